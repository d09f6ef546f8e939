/**
 * Issue 7 scenario 10: the scheduler leader is frozen (SIGSTOP) past its lease. The standby
 * acquires the Lease kube-system/kube-scheduler and schedules; when the frozen one wakes
 * (SIGCONT) its renew deadline has long passed: it must step down before doing anything as leader
 * (and exits, as kube-scheduler does on "leaderelection lost"; pm2 starts it again as a
 * candidate). Pods are created before, during and around the wake, so that a stale leader would
 * find work; every binding is recorded through a pod watch and through the Scheduled events:
 * each pod is bound exactly once, never re-bound, with exactly one Scheduled event.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Event, Pod } from '../../services/lib/generated/kubemu/core/v1/core';
import { Informer } from '../../services/lib/informer';
import { resourceForCase } from '../../services/lib/resources';
import { connectBus } from '../../services/lib/watchbus';
import { POD, Scenario, ScenarioContext, pollUntil, secs, signalPid, sleep, waitFor } from './lib';

const LEASE = resourceForCase('lease');
const EVENT = resourceForCase('event');
/** Pods created before the freeze (the leader binds them). */
const BEFORE = 3;
/** How long the standby leads before the frozen one is woken. */
const LEAD_BEFORE_WAKE_MS = 2000;
/** Pods keep coming until this long after the wake: a woken stale leader would have work. */
const CREATE_AFTER_WAKE_MS = 2000;

/**
 * When the scheduler `processName` last logged that it steps down for an overdue renewal (not
 * before `since`), from the tail of its pm2 logs; undefined when it did not.
 */
function steppedDown(logDir: string, processName: string, since: number): number | undefined {
  let found: number | undefined;
  for (const file of [`${processName}.err.log`, `${processName}.out.log`]) {
    let text: string;
    try {
      const fd = fs.openSync(path.join(logDir, file), 'r');
      try {
        const size = fs.fstatSync(fd).size;
        const length = Math.min(size, 256 * 1024);
        const buf = Buffer.alloc(length);
        fs.readSync(fd, buf, 0, length, size - length);
        text = buf.toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('stepping down')) continue;
      try {
        const at = Date.parse((JSON.parse(line) as { ts?: string }).ts ?? '');
        if (at >= since && (found === undefined || at > found)) found = at;
      } catch {
        // A partial first line.
      }
    }
  }
  return found;
}

/** What the pod watch saw of one pod (by uid). */
interface Binding {
  name: string;
  createdSeen: number;
  /** Every distinct non-empty spec.nodeName, in the order seen. */
  nodes: string[];
  boundSeen?: number;
}

export const schedulerFrozen: Scenario = {
  name: 'scheduler-frozen',
  number: 10,
  promises: [
    'The scheduler leader is frozen (SIGSTOP), as a hung process or a partition looks to its peers: it stops renewing',
    'its Lease; after the lease duration the standby acquires it and schedules. When the frozen one wakes (SIGCONT), its',
    'renew deadline has passed: it steps down before binding anything (and exits; pm2 restarts it as a candidate).',
    'Every pod is bound exactly once (the binding subresource refuses a pod that has a node), with one Scheduled event.',
  ],
  async run(ctx: ScenarioContext): Promise<string[]> {
    const { client, timeline, namespace, topology } = ctx;
    const leaseSeconds = topology.profile.timings.leaderLeaseDurationSeconds;
    const problems: string[] = [];

    // The watch: every change of every pod in the namespace, in order, through an informer.
    const bindings = new Map<string, Binding>();
    const onPod = (p: Pod) => {
      const uid = p.metadata?.uid ?? '';
      let b = bindings.get(uid);
      if (!b) bindings.set(uid, (b = { name: p.metadata?.name ?? '', createdSeen: Date.now(), nodes: [] }));
      const node = p.spec?.nodeName;
      if (node && b.nodes[b.nodes.length - 1] !== node) {
        b.nodes.push(node);
        b.boundSeen ??= Date.now();
      }
    };
    const nats = await connectBus(topology.natsServers, `scenario-${namespace}`);
    const informer = new Informer({ client, nats, info: POD, namespace });
    informer.addHandlers({ onAdd: onPod, onUpdate: (_o, p) => onPod(p) });
    let frozenPid = 0;
    let woken = false;
    try {
      await informer.start();
      let created = 0;
      const createPod = async () => {
        const name = `pod-${String(created++).padStart(3, '0')}`;
        await client.create(POD, { metadata: { name, namespace }, spec: { containers: [{ name: 'sleep', image: 'busybox', command: ['sleep', '3600'] }] } });
      };
      const allBound = () => bindings.size === created && [...bindings.values()].every((b) => b.nodes.length > 0);

      for (let i = 0; i < BEFORE; i++) await createPod();
      await waitFor(`the first ${BEFORE} pods bound`, async () => allBound(), 30000);
      const lease = await waitFor('a scheduler leader', async () => {
        const l = await client.tryGet(LEASE, 'kube-system', 'kube-scheduler');
        return l?.spec?.holderIdentity ? l : undefined;
      }, 10000);
      const holder = lease.spec!.holderIdentity!;
      const processName = holder.split('_')[0];
      frozenPid = (await ctx.pids()).get(processName) ?? 0;
      if (!frozenPid) throw new Error(`the lease holder ${holder} names ${processName}, which pm2 does not run`);
      ctx.log(`leader: ${holder} (pm2 process ${processName}, pid ${frozenPid}); lease duration ${leaseSeconds} s; ${BEFORE} pods bound before the freeze`);

      signalPid(frozenPid, 'SIGSTOP');
      const frozenAt = Date.now();
      timeline.fault(`SIGSTOP ${processName} (pid ${frozenPid}), the scheduler leader`, frozenAt);

      // Until the standby leads: a pod a second (they wait, Pending).
      let newHolder: string | undefined;
      let newHolderAt = NaN;
      const leaseDeadline = Date.now() + leaseSeconds * 1000 + 30000;
      let lastCreate = 0;
      while (!newHolder && Date.now() < leaseDeadline) {
        if (Date.now() - lastCreate >= 1000) {
          lastCreate = Date.now();
          await createPod();
        }
        const h = (await client.tryGet(LEASE, 'kube-system', 'kube-scheduler').catch(() => undefined))?.spec?.holderIdentity;
        if (h && h !== holder) {
          newHolder = h;
          newHolderAt = timeline.mark(`lease taken by ${h}${h.split('_')[0] === processName ? ' (?! the frozen process)' : ' (the standby)'}`);
        }
        await sleep(100);
      }
      if (!newHolder) {
        problems.push(`nobody took the lease from the frozen ${holder} within ${secs(leaseSeconds * 1000 + 30000)}`);
        return problems;
      }
      const pendingAtTakeover = created;

      // The new leader schedules; pods keep coming every 250 ms, across the wake.
      let wakeAt = NaN;
      let restarted: Promise<number | undefined> | undefined;
      let firstByNew = NaN;
      const stopCreatingAt = () => (Number.isNaN(wakeAt) ? Infinity : wakeAt + CREATE_AFTER_WAKE_MS);
      while (Date.now() < stopCreatingAt()) {
        await createPod();
        if (Number.isNaN(firstByNew)) {
          const first = [...bindings.values()].filter((b) => b.boundSeen !== undefined && b.boundSeen > newHolderAt).sort((a, b) => a.boundSeen! - b.boundSeen!)[0];
          if (first) firstByNew = timeline.mark(`first pod bound by the new leader (${first.name} → ${first.nodes[0]})`, first.boundSeen);
        }
        if (Number.isNaN(wakeAt) && Date.now() - newHolderAt >= LEAD_BEFORE_WAKE_MS) {
          signalPid(frozenPid, 'SIGCONT');
          woken = true;
          wakeAt = timeline.mark(`SIGCONT ${processName} (pid ${frozenPid}): the frozen leader wakes, ${secs(Date.now() - frozenAt)} after the freeze`);
          restarted = pollUntil(async () => {
            const now = (await ctx.pids()).get(processName);
            return now && now !== frozenPid ? now : undefined;
          }, 20000, 100).then((pid) => {
            if (pid) timeline.mark(`pm2 restarted ${processName} (pid ${pid}); it stands by as a candidate`);
            return pid;
          });
        }
        await sleep(250);
      }
      timeline.mark(`${created} pods created in all (${pendingAtTakeover - BEFORE} during the freeze before the takeover); creation stops`);

      const restartedPid = await restarted;
      const steppedDownAt = steppedDown(topology.logDir, processName, wakeAt - 1000);
      if (steppedDownAt !== undefined) timeline.mark(`the woken ${processName} logs: renew deadline passed, stepping down (then it exits)`, steppedDownAt);

      const boundAll = await pollUntil(async () => allBound(), 30000, 100);
      const allBoundAt = boundAll ? timeline.mark(`all ${created} pods bound`, Math.max(...[...bindings.values()].map((b) => b.boundSeen ?? 0))) : NaN;
      const holderAtEnd = (await client.tryGet(LEASE, 'kube-system', 'kube-scheduler'))?.spec?.holderIdentity;

      // The Scheduled events: one per pod, written asynchronously after each binding.
      const scheduledOf = (events: Event[]) => {
        const by = new Map<string, Event[]>();
        for (const e of events.filter((x) => x.reason === 'Scheduled')) {
          const uid = e.involvedObject?.uid ?? '';
          by.set(uid, [...(by.get(uid) ?? []), e]);
        }
        return by;
      };
      await pollUntil(async () => {
        const by = scheduledOf((await client.list(EVENT, namespace)).items);
        return [...bindings.keys()].every((uid) => by.has(uid));
      }, 20000, 250);
      await sleep(500); // a duplicate event would come right after the first
      const scheduled = scheduledOf((await client.list(EVENT, namespace)).items);

      const byInstance = new Map<string, number>();
      for (const es of scheduled.values()) for (const e of es) byInstance.set(e.reportingInstance ?? '?', (byInstance.get(e.reportingInstance ?? '?') ?? 0) + 1);
      ctx.log(
        `durations: freeze → lease taken ${secs(timeline.sinceFault(newHolderAt))} (lease ${leaseSeconds} s), freeze → first pod bound by the new leader ${secs(timeline.sinceFault(firstByNew))}, ` +
          `wake → woken one stepped down ${secs((steppedDownAt ?? NaN) - wakeAt)}, freeze → all bound ${secs(timeline.sinceFault(allBoundAt))}`,
      );
      ctx.log(`Scheduled events by scheduler: ${[...byInstance].map(([k, n]) => `${k} ×${n}`).join(', ')}`);

      if (!restartedPid) problems.push(`the woken ${processName} did not exit (pm2 shows pid ${frozenPid} still): it should have stepped down`);
      if (holderAtEnd !== newHolder) problems.push(`the lease holder at the end is ${holderAtEnd}, not ${newHolder}`);
      if (!boundAll) problems.push(`not every pod was bound: ${[...bindings.values()].filter((b) => !b.nodes.length).map((b) => b.name).join(', ')}`);
      if (bindings.size !== created) problems.push(`the pod watch saw ${bindings.size} pods, ${created} were created`);
      for (const [uid, b] of bindings) {
        if (b.nodes.length > 1) problems.push(`pod ${b.name} was bound to ${b.nodes.join(', then ')}`);
        const es = scheduled.get(uid) ?? [];
        if (es.length !== 1) problems.push(`pod ${b.name} has ${es.length} Scheduled events (${es.map((e) => `${e.reportingInstance}: ${e.message}`).join('; ')}); exactly one expected`);
        // A pod bound after the wake must be the new leader's: the woken one steps down first.
        if (b.boundSeen !== undefined && b.boundSeen > wakeAt && es.some((e) => e.reportingInstance === holder)) {
          problems.push(`pod ${b.name}, bound ${secs(b.boundSeen - wakeAt)} after the wake, was bound by the woken stale leader ${holder}`);
        }
      }
      // Bindings the frozen leader had in flight at the SIGSTOP may land after it: allowed, shown.
      const late = [...bindings].filter(([uid, b]) => b.boundSeen! > frozenAt && (scheduled.get(uid) ?? []).some((e) => e.reportingInstance === holder));
      if (late.length) ctx.log(`pods the frozen leader bound after the freeze began: ${late.map(([, b]) => b.name).join(', ')}`);
      return problems;
    } finally {
      if (frozenPid && !woken) {
        try {
          process.kill(frozenPid, 'SIGCONT');
        } catch {
          // Gone already.
        }
      }
      await informer.stop();
      await nats.close();
    }
  },
};
