/**
 * A minimal client for the Kubernetes remote command protocols (channel.k8s.io v4/v5) over
 * WebSocket, built on the apiserver's own framing code with client-side masking: what kubectl
 * exec does on the wire, for tests that cannot run kubectl.
 */
import * as crypto from 'crypto';
import * as http from 'http';
import { Duplex } from 'stream';
import {
  acceptKey,
  CHANNEL_CLOSE,
  CHANNEL_STDIN,
  encodeChannelMessage,
  encodeClose,
  encodeFrame,
  FrameParser,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_PING,
  OPCODE_PONG,
  WebSocketMessage,
} from '../../services/kube-apiserver/rest/websocket';

/** What a finished session delivered, per channel. */
export interface ChannelSession {
  protocol: string;
  /** Data per channel number, concatenated. */
  channels: Map<number, Buffer>;
  /** The error channel (3) parsed as JSON, when it carried anything. */
  status?: Record<string, unknown>;
  /** The close code of the server's close frame, if it sent one. */
  closeCode?: number;
  pongs: number;
}

export interface RefusedUpgrade {
  statusCode: number;
  body: string;
}

export interface ChannelClientOptions {
  protocols: string[];
  /** Sent on channel 0 right after the upgrade, in one message each. */
  stdin?: Buffer[];
  /** Send v5's close signal for stdin after `stdin` (default true when stdin is given). */
  closeStdin?: boolean;
  /** Send a ping right after the upgrade (to check the pong). */
  ping?: boolean;
  timeoutMs?: number;
}

/** An open remote-command WebSocket, for tests that drive it step by step. */
export interface ChannelConnection {
  protocol: string;
  socket: Duplex;
  send(channel: number, data: Buffer): void;
  closeStdin(): void;
  /** Resolves when the server has closed the connection. */
  finished: Promise<ChannelSession>;
}

/**
 * Opens a WebSocket to `url` (http://...) offering `protocols`. Resolves with the connection after
 * the 101, or with the refusal (status code and body) when the server answered anything else.
 */
export function connectChannels(url: string, protocols: string[], timeoutMs = 30000): Promise<ChannelConnection | RefusedUpgrade> {
  return new Promise((resolve, reject) => {
    const key = crypto.randomBytes(16).toString('base64');
    const req = http.request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Protocol': protocols.join(', '),
      },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ statusCode: res.statusCode ?? 0, body });
      });
    });
    req.on('upgrade', (res, socket, head) => {
      if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
        socket.destroy();
        clearTimeout(timer);
        reject(new Error(`bad Sec-WebSocket-Accept ${res.headers['sec-websocket-accept']}`));
        return;
      }
      const protocol = String(res.headers['sec-websocket-protocol'] ?? '');
      const session: ChannelSession = { protocol, channels: new Map(), pongs: 0 };
      const parser = new FrameParser({ requireMask: false, maxMessageBytes: 64 * 1024 * 1024 });
      const finished = new Promise<ChannelSession>((done, fail) => {
        const onMessage = (m: WebSocketMessage) => {
          if (m.opcode === OPCODE_PONG) session.pongs++;
          else if (m.opcode === OPCODE_PING) socket.write(encodeFrame(OPCODE_PONG, m.payload, { mask: true }));
          else if (m.opcode === OPCODE_CLOSE) {
            session.closeCode = m.payload.length >= 2 ? m.payload.readUInt16BE(0) : undefined;
            socket.end(encodeClose(session.closeCode ?? 1000, '', { mask: true }));
          } else if (m.opcode === OPCODE_BINARY && m.payload.length > 0) {
            const ch = m.payload[0];
            session.channels.set(ch, Buffer.concat([session.channels.get(ch) ?? Buffer.alloc(0), m.payload.subarray(1)]));
          }
        };
        const feed = (chunk: Buffer) => {
          try {
            for (const m of parser.push(chunk)) onMessage(m);
          } catch (err) {
            fail(err);
            socket.destroy();
          }
        };
        socket.on('data', feed);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearTimeout(timer);
          const err = session.channels.get(3);
          if (err && err.length) session.status = JSON.parse(err.toString());
          done(session);
        });
        if (head.length) feed(head);
      });
      resolve({
        protocol,
        socket,
        send: (channel, data) => socket.write(encodeChannelMessage(channel, data, { mask: true })),
        closeStdin: () => socket.write(encodeFrame(OPCODE_BINARY, Buffer.from([CHANNEL_CLOSE, CHANNEL_STDIN]), { mask: true })),
        finished,
      });
    });
    req.end();
  });
}

/**
 * Runs one remote command session: connects, sends stdin (and its close signal), waits for the
 * server to finish. Resolves with the session or the refusal.
 */
export async function runChannels(url: string, opts: ChannelClientOptions): Promise<ChannelSession | RefusedUpgrade> {
  const conn = await connectChannels(url, opts.protocols, opts.timeoutMs);
  if (!('finished' in conn)) return conn;
  if (opts.ping) conn.socket.write(encodeFrame(OPCODE_PING, Buffer.from('hb'), { mask: true }));
  for (const chunk of opts.stdin ?? []) conn.send(CHANNEL_STDIN, chunk);
  if (opts.closeStdin ?? opts.stdin !== undefined) conn.closeStdin();
  return conn.finished;
}

/** Text of a channel of a session. */
export function channelText(s: ChannelSession, channel: number): string {
  return (s.channels.get(channel) ?? Buffer.alloc(0)).toString();
}
