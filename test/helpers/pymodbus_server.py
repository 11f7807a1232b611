#!/usr/bin/python3
"""Modbus test peer for edge-agent (pymodbus 3.0.0rc1, Debian python3-pymodbus).

Usage: /usr/bin/python3 pymodbus_server.py '<json spec>'

Spec:
  {"transport": "tcp", "port": 15020}            or
  {"transport": "rtu", "path": "/tmp/x/b", "baudrate": 9600},
  "ignoreMissing": true,                           (default: true for rtu, false for tcp)
  "slaves": {"1": {"holding": {"size": 200, "values": {"0": [1, 2, 3]}, "holes": [7]},
                   "input":   {...}, "coil": {...}, "discrete": {...}}}

Every area is one zero-based block [0, size) (default size 100, zeros) with the listed
values written at their start addresses; an address outside the block answers
exception 02, and so does any read that covers one of the listed "holes" (unmapped
registers inside the block, as real meters have). Prints "READY" on stdout once serving; exits when stdin closes.
"""
import asyncio
import json
import logging
import os
import sys
import threading

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusSparseDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

logging.basicConfig(level=logging.CRITICAL)
for name in ("pymodbus", "asyncio"):
    logging.getLogger(name).setLevel(logging.CRITICAL)


def block(area):
    area = area or {}
    size = int(area.get("size", 100))
    values = [0] * size
    for start, data in (area.get("values") or {}).items():
        start = int(start)
        for i, v in enumerate(data):
            values[start + i] = int(v)
    holes = set(int(h) for h in area.get("holes") or [])
    if holes:
        # A sparse block refuses (exception 02) any read that covers a missing address.
        return ModbusSparseDataBlock({a: v for a, v in enumerate(values) if a not in holes})
    return ModbusSequentialDataBlock(0, values)


def build_context(spec):
    slaves = {}
    for unit, areas in spec.get("slaves", {}).items():
        slaves[int(unit)] = ModbusSlaveContext(
            hr=block(areas.get("holding")),
            ir=block(areas.get("input")),
            co=block(areas.get("coil")),
            di=block(areas.get("discrete")),
            zero_mode=True,
        )
    return ModbusServerContext(slaves=slaves, single=False)


def watch_stdin(loop):
    try:
        while sys.stdin.buffer.read(1024):
            pass
    except Exception:  # pylint: disable=broad-except
        pass
    os._exit(0)  # pylint: disable=protected-access


async def main(spec):
    context = build_context(spec)
    loop = asyncio.get_running_loop()
    threading.Thread(target=watch_stdin, args=(loop,), daemon=True).start()
    if spec["transport"] == "tcp":
        server = await StartAsyncTcpServer(
            context=context,
            address=("127.0.0.1", int(spec["port"])),
            framer=ModbusSocketFramer,
            ignore_missing_slaves=bool(spec.get("ignoreMissing", False)),
            allow_reuse_address=True,
            defer_start=True,
        )
        serve = asyncio.ensure_future(server.serve_forever())
        await server.serving
    else:
        server = await StartAsyncSerialServer(
            context=context,
            framer=ModbusRtuFramer,
            port=spec["path"],
            baudrate=int(spec.get("baudrate", 9600)),
            ignore_missing_slaves=bool(spec.get("ignoreMissing", True)),
            defer_start=True,
        )
        await server.start()
        serve = asyncio.ensure_future(server.serve_forever())
    await asyncio.sleep(0.05)
    print("READY", flush=True)
    await serve


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
