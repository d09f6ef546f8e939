import { ServerResponse } from 'http';
import { JetStreamManager, NatsConnection } from 'nats';
import { WatchEvent } from '../../lib/generated/kubemu/apiserver/v1/apiserver';
import { ApiError, errors } from '../../lib/errors';
import { fieldValue, FieldSelector, parseFieldSelector } from '../../lib/fields';
import { LabelSelector, parseLabelSelector } from '../../lib/labels';
import { Logger } from '../../lib/log';
import { KubeObject, objectKey, ResourceInfo, unwrap } from '../../lib/resources';
import { sequenceAfterRevision, StreamWatch, WATCH_API_TIMEOUT_MS, watchFilter, WatchExpiredError } from '../../lib/watchbus';
import { Registry } from '../registry';
import { statusBody } from './respond';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchRequest {
  info: ResourceInfo;
  /** '' for every namespace. */
  namespace: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** '' or '0': start with the current state as ADDED events; otherwise the revision to follow from. */
  resourceVersion?: string;
  /** Ends the stream after this many seconds. */
  timeoutSeconds: number;
  allowWatchBookmarks: boolean;
  /** sendInitialEvents=true: the current state, then a BOOKMARK marked initial-events-end. */
  sendInitialEvents: boolean;
  bookmarkIntervalMs?: number;
}

/** How each event's object is written (plain JSON, or a Table row). */
export type ObjectEncoder = (obj: KubeObject, type: WatchEventType) => unknown;

/**
 * Serves one watch: writes `{"type":...,"object":...}` lines (chunked) from the requested
 * revision, following the JetStream watch stream as informers do, filtered by namespace (in the
 * stream subject), labels and fields. An object that stops matching is sent as DELETED, one that
 * starts matching as ADDED. A revision that the stream no longer holds ends the watch with an
 * ERROR event carrying a 410 Expired Status, so that the client relists. Resolves when the
 * watch ended (timeout, client gone, error). Errors before the first byte (bad selector) are
 * thrown as ApiErrors for the caller to answer; later errors end the stream with an ERROR event.
 */
export async function serveWatch(
  res: ServerResponse,
  req: WatchRequest,
  deps: { registry: Registry; nats: NatsConnection; log: Logger },
  encode: ObjectEncoder,
): Promise<void> {
  const { info } = req;
  let labels: LabelSelector;
  let fields: FieldSelector | undefined;
  try {
    labels = parseLabelSelector(req.labelSelector ?? '');
    fields = req.fieldSelector ? parseFieldSelector(req.fieldSelector) : undefined;
  } catch (err) {
    throw errors.badRequest(err instanceof Error ? err.message : String(err));
  }
  const selective = !labels.isEmpty() || (fields !== undefined && !fields.isEmpty());
  const matches = (obj: KubeObject) =>
    labels.matches(obj.metadata?.labels) && (!fields || fields.matches((f) => fieldValue(obj, f)));

  const rvText = req.resourceVersion ?? '';
  const fromNow = rvText === '' || rvText === '0';
  let startRevision: number;
  /** Keys of the objects the client currently has (matching), to turn "stops matching" into DELETED. */
  const known = new Set<string>();
  let initial: KubeObject[] = [];
  if (fromNow || req.sendInitialEvents || selective) {
    // The list validates the selectors (unsupported fields are BadRequest) and gives a revision.
    const listed = await listAll(deps.registry, info, req.namespace, req.labelSelector, req.fieldSelector);
    for (const o of listed.items) known.add(objectKey(o));
    if (fromNow || req.sendInitialEvents) {
      initial = listed.items;
      startRevision = Number(listed.resourceVersion);
    } else {
      // Known matches are taken from the current state: an approximation of the state at the
      // requested revision that errs towards sending a DELETED the client may not need.
      startRevision = Number(rvText);
    }
  } else {
    startRevision = Number(rvText);
  }
  if (!Number.isFinite(startRevision) || startRevision < 0 || !/^\d*$/.test(rvText)) {
    throw errors.badRequest(`invalid resource version: ${JSON.stringify(rvText)}`);
  }

  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache' });
  res.flushHeaders();

  let lastRevision = startRevision;
  let ended = false;
  const write = (type: WatchEventType, object: unknown) => {
    if (ended || res.writableEnded) return;
    res.write(JSON.stringify({ type, object }) + '\n');
  };
  const bookmark = (annotations?: Record<string, string>) => {
    const obj: KubeObject = { apiVersion: info.apiVersion, kind: info.kind, metadata: { resourceVersion: String(lastRevision) } };
    if (annotations) obj.metadata!.annotations = annotations;
    write('BOOKMARK', encode(obj, 'BOOKMARK'));
  };

  for (const obj of initial) write('ADDED', encode(obj, 'ADDED'));
  if (req.sendInitialEvents && req.allowWatchBookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });

  let jsm: JetStreamManager | undefined;
  let stopMessages: (() => void) | undefined;
  const done = new Promise<void>((resolve) => {
    const finish = () => {
      if (ended) return;
      ended = true;
      stopMessages?.();
      resolve();
    };
    res.on('close', finish);
    const timer = setTimeout(finish, Math.max(1, req.timeoutSeconds) * 1000);
    const bookmarks = req.allowWatchBookmarks ? setInterval(() => bookmark(), req.bookmarkIntervalMs ?? 60000) : undefined;
    void (async () => {
      try {
        await follow();
      } catch (err) {
        if (!ended) {
          const apiErr =
            err instanceof WatchExpiredError
              ? errors.expired(err.message)
              : err instanceof ApiError
                ? err
                : errors.internal(err instanceof Error ? err.message : String(err));
          if (!(err instanceof WatchExpiredError)) deps.log.warn('watch ended with an error', { resource: info.resource, err: apiErr.message });
          write('ERROR', statusBody(apiErr));
        }
      } finally {
        clearTimeout(timer);
        if (bookmarks) clearInterval(bookmarks);
        finish();
        if (!res.writableEnded) res.end();
      }
    })();
  });

  /**
   * Follows the stream until the watch ends; throws WatchExpiredError when the revision is gone.
   * When the stream watch ends under it (NATS trouble, see StreamWatch) it resumes after the last
   * revision sent, retrying while NATS does not answer, so the client's watch goes on.
   */
  async function follow(): Promise<void> {
    const filter = watchFilter(info.resource, { namespace: req.namespace || undefined, nodeName: nodeNameOf(info, fields) });
    let backoff = 100;
    let failing = false;
    while (!ended) {
      let watch: StreamWatch;
      try {
        jsm ??= await deps.nats.jetstreamManager({ timeout: WATCH_API_TIMEOUT_MS, checkAPI: false });
        const startSeq = await sequenceAfterRevision(jsm, lastRevision);
        if (ended) return;
        watch = await StreamWatch.open(deps.nats, jsm, { filter, startSeq, batch: 256 });
      } catch (err) {
        if (err instanceof WatchExpiredError) throw err;
        if (!failing) deps.log.warn('watch: cannot follow the watch stream; retrying', { resource: info.resource, fromRevision: lastRevision, err: (err as Error).message });
        failing = true;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2000);
        continue;
      }
      failing = false;
      backoff = 100;
      stopMessages = () => watch.close();
      // The client may have gone while the consumer was being created: nothing would end it then.
      if (ended) {
        watch.close();
        return;
      }
      await relay(watch);
      if (!ended) deps.log.info('watch: resuming', { resource: info.resource, fromRevision: lastRevision, reason: watch.endReason });
    }
  }

  /** Sends the stream's events to the client until the stream watch or the client's watch ends. */
  async function relay(messages: StreamWatch): Promise<void> {
    try {
      for await (const m of messages) {
        if (ended) break;
        let ev: WatchEvent;
        try {
          ev = WatchEvent.decode(m.data);
        } catch {
          continue;
        }
        onEvent(ev);
        // A slow client: stop reading the stream until its socket takes more (no unbounded buffering).
        if (res.writableNeedDrain && !ended) await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    } finally {
      stopMessages = undefined;
      messages.close();
    }
  }

  function onEvent(ev: WatchEvent): void {
    const rev = ev.revision ?? 0;
    if (rev <= lastRevision) return;
    const u = unwrap(ev.object);
    if (!u || u.objectCase !== info.objectCase) return;
    const obj = u.value;
    obj.apiVersion = info.apiVersion;
    obj.kind = info.kind;
    (obj.metadata ??= {}).resourceVersion = String(rev);
    lastRevision = rev;
    const key = objectKey(obj);
    const wasKnown = known.has(key);
    if (ev.type === 'DELETED') {
      if (!selective || wasKnown || matches(obj)) write('DELETED', encode(obj, 'DELETED'));
      known.delete(key);
      return;
    }
    if (!matches(obj)) {
      if (wasKnown) {
        known.delete(key);
        write('DELETED', encode(obj, 'DELETED'));
      }
      return;
    }
    known.add(key);
    const type: WatchEventType = ev.type === 'ADDED' || (selective && !wasKnown) ? 'ADDED' : 'MODIFIED';
    write(type, encode(obj, type));
  }

  await done;
}

/** Every page of a list (the watch starts from its revision). */
async function listAll(registry: Registry, info: ResourceInfo, namespace: string, labelSelector?: string, fieldSelector?: string) {
  const items: KubeObject[] = [];
  let cont: string | undefined;
  let resourceVersion = '';
  do {
    const page = await registry.list(info, namespace, { labelSelector, fieldSelector, limit: 500, continue: cont });
    items.push(...page.items);
    resourceVersion = resourceVersion || page.resourceVersion;
    cont = page.continue;
  } while (cont);
  return { items, resourceVersion };
}

/** For pods watched with spec.nodeName=X, the stream subject narrows to that node (as kubelets watch). */
function nodeNameOf(info: ResourceInfo, fields: FieldSelector | undefined): string | undefined {
  if (info.resource !== 'pods' || !fields) return undefined;
  return fields.requiresExactMatch('spec.nodeName') || undefined;
}
