import { allPathsDown, causeOf, checkEvidence, type Cause, type CheckEvidence } from '../core/cause.js';
import type { CheckIdentity, CheckResult } from '../core/result.js';

/**
 * The latest evidence of every check of every monitor, so each result is attributed with its siblings' latest
 * results, and which tenants have a monitor with every path down (a `service` cause needs two tenants at once).
 */
export class MonitorCauses {
  readonly #monitors = new Map<string, { tenant: string; checks: Map<string, CheckEvidence> }>();
  /** Per tenant, its monitors whose every check that ran fails with service evidence. */
  readonly #down = new Map<string, Set<string>>();

  /** The monitor's cause after this result; undefined while none of its checks fails. */
  observe(result: CheckResult): Cause | undefined {
    const monitor = this.#monitors.get(result.monitor) ?? { tenant: result.tenant, checks: new Map<string, CheckEvidence>() };
    this.#monitors.set(result.monitor, monitor);
    if (monitor.tenant !== result.tenant) {
      this.#markDown(monitor.tenant, result.monitor, false);
      monitor.tenant = result.tenant;
    }
    monitor.checks.set(result.check, checkEvidence(result));
    const checks = [...monitor.checks.values()];
    this.#markDown(result.tenant, result.monitor, allPathsDown(checks));
    const serviceDownElsewhere = [...this.#down.keys()].some((tenant) => tenant !== result.tenant);
    return causeOf(checks, { serviceDownElsewhere });
  }

  /** A check a reload removed: its evidence no longer counts (nor its monitor's, once it has no check left). */
  forget(identity: Pick<CheckIdentity, 'monitor' | 'check' | 'tenant'>): void {
    const monitor = this.#monitors.get(identity.monitor);
    if (!monitor) return;
    monitor.checks.delete(identity.check);
    const left = [...monitor.checks.values()];
    if (left.length === 0) this.#monitors.delete(identity.monitor);
    this.#markDown(monitor.tenant, identity.monitor, allPathsDown(left));
  }

  #markDown(tenant: string, monitor: string, down: boolean): void {
    const monitors = this.#down.get(tenant);
    if (down) {
      if (monitors) monitors.add(monitor);
      else this.#down.set(tenant, new Set([monitor]));
      return;
    }
    monitors?.delete(monitor);
    if (monitors?.size === 0) this.#down.delete(tenant);
  }
}
