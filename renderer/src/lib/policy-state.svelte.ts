import type { Channel, PerpetuaBridge, PolicyConfig, PolicyPacket, Stats } from './api.js';
import { progressOf, type Progress } from './progress.js';

export interface PolicyHost {
  readonly api: PerpetuaBridge;
  toast(kind: 'info' | 'error', text: string): void;
  /** the sentence for an error, in the interface language (i18n) */
  error(err: unknown): string;
  /** The switch took effect: the session runs `policy` now. */
  switched(sessionId: string, policy: PolicyConfig, stats: Stats, statement: string): void;
  /** The switch was cancelled: the session kept its policy and cache. */
  kept(sessionId: string, stats: Stats): void;
}

/**
 * A policy switch in flight (one per window: the switcher belongs to the open chat): the rebuild's progress,
 * its Cancel, and what the switch did.
 */
export class PolicySwitchState {
  /** The session whose cache is being rebuilt. */
  sessionId = $state<string | null>(null);
  progress = $state.raw<Progress | null>(null);
  /** The switch was asked for and has not ended. */
  switching = $state(false);
  private channel: Channel<PolicyPacket> | null = null;

  constructor(private readonly host: PolicyHost) {}

  switchingFor(sessionId: string | undefined): boolean {
    return this.switching && !!sessionId && this.sessionId === sessionId;
  }

  /** Resolves true once the new policy runs, false when it was cancelled, refused or failed. */
  async apply(sessionId: string, policy: PolicyConfig): Promise<boolean> {
    if (this.switching) return false;
    this.switching = true;
    this.sessionId = sessionId;
    this.progress = null;
    const channel = this.host.api.policySet({ sessionId, policy }, (p) => {
      if (p.type === 'progress') this.progress = progressOf(p);
    });
    this.channel = channel;
    try {
      const end = await channel.closed;
      if (end.type === 'done') this.host.switched(sessionId, end.policy, end.stats, end.statement);
      else if (end.type === 'stopped') this.host.kept(sessionId, end.stats);
      else if (end.type === 'failed') this.host.toast('error', this.host.error(end.error));
      return end.type === 'done';
    } catch (err) {
      this.host.toast('error', this.host.error(err));
      return false;
    } finally {
      this.channel = null;
      this.switching = false;
      this.progress = null;
    }
  }

  /** Stops the rebuild: the session keeps its old policy and cache. */
  cancel(): void {
    this.channel?.cancel();
  }
}
