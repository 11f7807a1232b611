/**
 * The gateway-side state machine of one pile (spec §8), pure: inputs are the frames and
 * commands the gateway sees plus the current time; outputs are effects (transitions,
 * billing records, CMD frames to send, command results). No timers: the gateway asks
 * `nextDeadline()` and calls `check(now)` when it is due, so tests drive it with numbers.
 */
export type PileState = 'OFFLINE' | 'STANDBY' | 'CHARGING' | 'FAULT' | 'UPGRADING';
export type PileCommand = 'start' | 'stop' | 'reset' | 'begin-upgrade';

export interface Transition {
  readonly from: PileState;
  readonly to: PileState;
  readonly cause: string;
  readonly ts: number;
}

/** One charging session, closed when the pile leaves CHARGING for any reason. */
export interface BillingRecord {
  readonly startTs: number;
  readonly stopTs: number;
  readonly energyWh: number;
  /** Why it ended: status-idle, cmd-stop, fault, offline. */
  readonly endCause: string;
}

export type Effect =
  | ({ readonly kind: 'transition' } & Transition)
  | ({ readonly kind: 'billing' } & BillingRecord)
  | {
      readonly kind: 'send';
      readonly wireId: number;
      readonly command: PileCommand;
      readonly params?: Readonly<Record<string, unknown>>;
    }
  | {
      readonly kind: 'result';
      readonly requestId: string;
      readonly command: PileCommand;
      readonly ok: boolean;
      readonly result?: number;
      readonly error?: string;
    };

/** What a STATUS frame reported (absent tags are undefined). */
export interface StatusInput {
  readonly state?: number;
  readonly faultCode?: number;
  readonly energyWh?: number;
}

/** A data frame as the machine sees it (the codec's STATUS, FAULT, CMD_ACK, BATT_TELEM). */
export type DataInput =
  | ({ readonly type: 'STATUS' } & StatusInput)
  | { readonly type: 'FAULT' }
  | { readonly type: 'CMD_ACK'; readonly commandId: number; readonly result: number }
  | { readonly type: 'BATT_TELEM' };

export interface MachineOptions {
  readonly heartbeatMs: number;
  readonly upgradeTimeoutMs: number;
  /** First CMD wire id (u32); later ones count up and wrap. */
  readonly firstWireId?: number;
  /** Commands sent and not yet acknowledged, at most (default MAX_PENDING_COMMANDS). */
  readonly maxPendingCommands?: number;
}

/**
 * A pile that never sends CMD_ACK would otherwise collect every command sent to it until
 * it goes offline; beyond this many, a new command is answered `too many pending` at once.
 */
export const MAX_PENDING_COMMANDS = 16;

interface PendingCommand {
  readonly requestId: string;
  readonly command: PileCommand;
  readonly params?: Readonly<Record<string, unknown>>;
  /** A stop sent on behalf of a begin-upgrade asked for while charging. */
  readonly beforeUpgrade: boolean;
  /** The begin-upgrade parameters to send once that stop is acknowledged. */
  readonly upgradeParams?: Readonly<Record<string, unknown>>;
}

/** Heartbeat intervals of silence after which the pile is OFFLINE (spec §8). */
const SILENT_INTERVALS = 3;

export class PileMachine {
  private current: PileState = 'OFFLINE';
  private lastFrameAt = 0;
  private upgradeDeadline: number | null = null;
  private resetAcked = false;
  private charging: { startTs: number; energyWh: number } | null = null;
  private readonly pending = new Map<number, PendingCommand>();
  private nextWireId: number;

  constructor(private readonly options: MachineOptions) {
    this.nextWireId = (options.firstWireId ?? 1) >>> 0;
  }

  get state(): PileState {
    return this.current;
  }

  get pendingCommands(): number {
    return this.pending.size;
  }

  /** AUTH_OK sent: the pile is online. */
  authOk(now: number): Effect[] {
    const out: Effect[] = [];
    if (this.current !== 'OFFLINE') this.goOffline('session-replaced', now, out);
    this.lastFrameAt = now;
    this.go('STANDBY', 'auth-ok', now, out);
    return out;
  }

  /** Any authenticated frame from the pile (heartbeat included) keeps it online. */
  frame(now: number): void {
    if (this.current !== 'OFFLINE') this.lastFrameAt = now;
  }

  /** The effects of one data frame. */
  data(msg: DataInput, now: number): Effect[] {
    switch (msg.type) {
      case 'STATUS':
        return this.status(msg, now);
      case 'FAULT':
        return this.fault(now);
      case 'CMD_ACK':
        return this.cmdAck(msg.commandId, msg.result, now);
      case 'BATT_TELEM':
        this.frame(now);
        return [];
    }
  }

  status(input: StatusInput, now: number): Effect[] {
    const out: Effect[] = [];
    if (this.current === 'OFFLINE') return out;
    this.lastFrameAt = now;
    if (this.current === 'UPGRADING') this.upgradeDeadline = now + this.options.upgradeTimeoutMs;
    if (this.current === 'CHARGING') this.noteEnergy(input.energyWh);
    if ((input.faultCode !== undefined && input.faultCode !== 0) || input.state === 2) {
      if (this.current !== 'FAULT') this.go('FAULT', 'status-fault', now, out);
      return out;
    }
    switch (this.current) {
      case 'FAULT':
        if (input.state === 0) this.go('STANDBY', 'status-idle', now, out);
        else if (input.faultCode === 0 && this.resetAcked) this.go('STANDBY', 'fault-cleared', now, out);
        if (this.state === 'STANDBY' && input.state === 1)
          this.startCharging('status-charging', input.energyWh, now, out);
        break;
      case 'STANDBY':
        if (input.state === 1) this.startCharging('status-charging', input.energyWh, now, out);
        break;
      case 'CHARGING':
        if (input.state === 0) this.go('STANDBY', 'status-idle', now, out);
        break;
      case 'UPGRADING':
        if (input.state === 0) this.go('STANDBY', 'status-idle', now, out);
        break;
    }
    return out;
  }

  /** A FAULT frame. */
  fault(now: number): Effect[] {
    const out: Effect[] = [];
    if (this.current === 'OFFLINE') return out;
    this.lastFrameAt = now;
    if (this.current !== 'FAULT') this.go('FAULT', 'fault-frame', now, out);
    return out;
  }

  /** A command from the northbound side. */
  request(requestId: string, command: PileCommand, params?: Readonly<Record<string, unknown>>): Effect[] {
    const out: Effect[] = [];
    if (this.current === 'OFFLINE')
      return [{ kind: 'result', requestId, command, ok: false, error: 'offline' }];
    const max = this.options.maxPendingCommands ?? MAX_PENDING_COMMANDS;
    if (this.pending.size >= max)
      return [{ kind: 'result', requestId, command, ok: false, error: `too many pending commands (${max})` }];
    if (command === 'begin-upgrade') {
      if (this.current === 'CHARGING') {
        this.send({ requestId, command: 'stop', beforeUpgrade: true, upgradeParams: params }, out);
        return out;
      }
      if (this.current !== 'STANDBY')
        return [{ kind: 'result', requestId, command, ok: false, error: `state ${this.current}` }];
    }
    this.send({ requestId, command, params, beforeUpgrade: false }, out);
    return out;
  }

  /** A CMD_ACK. Unknown ids (e.g. resent after a gateway restart) change nothing. */
  cmdAck(wireId: number, result: number, now: number): Effect[] {
    const out: Effect[] = [];
    const cmd = this.pending.get(wireId);
    if (this.current !== 'OFFLINE') this.lastFrameAt = now;
    if (cmd === undefined) return out;
    this.pending.delete(wireId);
    const ok = result === 0;
    if (cmd.beforeUpgrade) {
      const params = cmd.upgradeParams;
      if (!ok)
        return [
          {
            kind: 'result',
            requestId: cmd.requestId,
            command: 'begin-upgrade',
            ok: false,
            result,
            error: 'stop-refused',
          },
        ];
      if (this.current === 'CHARGING') this.go('STANDBY', 'cmd-stop', now, out);
      if (this.current === 'STANDBY')
        this.send({ requestId: cmd.requestId, command: 'begin-upgrade', params, beforeUpgrade: false }, out);
      else
        out.push({
          kind: 'result',
          requestId: cmd.requestId,
          command: 'begin-upgrade',
          ok: false,
          error: `state ${this.current}`,
        });
      return out;
    }
    if (ok) this.applyAcked(cmd.command, now, out);
    out.push({ kind: 'result', requestId: cmd.requestId, command: cmd.command, ok, result });
    return out;
  }

  /** The session closed (any reason other than silence, which `check` detects). */
  closed(cause: string, now: number): Effect[] {
    const out: Effect[] = [];
    if (this.current !== 'OFFLINE') this.goOffline(cause, now, out);
    return out;
  }

  /** Evaluates the deadlines: heartbeat silence (→ OFFLINE) and the upgrade timeout (→ FAULT). */
  check(now: number): Effect[] {
    const out: Effect[] = [];
    if (this.current === 'OFFLINE') return out;
    if (now - this.lastFrameAt >= SILENT_INTERVALS * this.options.heartbeatMs) {
      this.goOffline('heartbeat-lost', now, out);
      return out;
    }
    if (this.current === 'UPGRADING' && this.upgradeDeadline !== null && now >= this.upgradeDeadline) {
      this.go('FAULT', 'upgrade-timeout', now, out);
    }
    return out;
  }

  /** When `check` next needs to run; null when OFFLINE. */
  nextDeadline(): number | null {
    if (this.current === 'OFFLINE') return null;
    const silence = this.lastFrameAt + SILENT_INTERVALS * this.options.heartbeatMs;
    return this.current === 'UPGRADING' && this.upgradeDeadline !== null
      ? Math.min(silence, this.upgradeDeadline)
      : silence;
  }

  // ---------------------------------------------------------------- internals

  private applyAcked(command: PileCommand, now: number, out: Effect[]): void {
    if (command === 'start' && this.current === 'STANDBY')
      this.startCharging('cmd-start', undefined, now, out);
    else if (command === 'stop' && this.current === 'CHARGING') this.go('STANDBY', 'cmd-stop', now, out);
    else if (command === 'begin-upgrade' && this.current === 'STANDBY')
      this.go('UPGRADING', 'cmd-begin-upgrade', now, out);
    else if (command === 'reset' && this.current === 'FAULT') this.resetAcked = true;
  }

  private send(cmd: PendingCommand, out: Effect[]): void {
    const wireId = this.nextWireId;
    this.nextWireId = (this.nextWireId + 1) >>> 0;
    this.pending.set(wireId, cmd);
    out.push({
      kind: 'send',
      wireId,
      command: cmd.command,
      ...(cmd.params === undefined ? {} : { params: cmd.params }),
    });
  }

  private startCharging(cause: string, energyWh: number | undefined, now: number, out: Effect[]): void {
    this.go('CHARGING', cause, now, out);
    this.noteEnergy(energyWh);
  }

  private noteEnergy(energyWh: number | undefined): void {
    // The pile reports the session's energy so far; keep the highest, so a final STATUS
    // that already reset its counter does not erase what was delivered.
    if (this.charging && energyWh !== undefined && energyWh > this.charging.energyWh)
      this.charging.energyWh = energyWh;
  }

  private goOffline(cause: string, now: number, out: Effect[]): void {
    this.go('OFFLINE', cause, now, out);
    for (const cmd of this.pending.values()) {
      const command = cmd.beforeUpgrade ? 'begin-upgrade' : cmd.command;
      out.push({ kind: 'result', requestId: cmd.requestId, command, ok: false, error: 'offline' });
    }
    this.pending.clear();
  }

  private go(to: PileState, cause: string, now: number, out: Effect[]): void {
    const from = this.current;
    if (from === 'CHARGING' && this.charging) {
      const endCause =
        to === 'STANDBY' ? cause : to === 'FAULT' ? 'fault' : to === 'OFFLINE' ? 'offline' : cause;
      out.push({
        kind: 'billing',
        startTs: this.charging.startTs,
        stopTs: now,
        energyWh: this.charging.energyWh,
        endCause,
      });
      this.charging = null;
    }
    if (to === 'CHARGING') this.charging = { startTs: now, energyWh: 0 };
    if (to === 'UPGRADING') this.upgradeDeadline = now + this.options.upgradeTimeoutMs;
    else this.upgradeDeadline = null;
    this.resetAcked = false;
    this.current = to;
    out.push({ kind: 'transition', from, to, cause, ts: now });
  }
}
