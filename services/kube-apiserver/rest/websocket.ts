/**
 * The little of RFC 6455 (WebSocket) that the Kubernetes streaming protocols need, on a raw
 * socket: the server's opening handshake, a frame parser that reassembles fragmented messages,
 * and frame encoding (unmasked from the server, masked from a client, as the RFC requires).
 * Written here rather than taken from the `ws` package because the exec bridge needs only binary
 * messages, ping/pong and close, and a hand-written parser keeps every byte's path visible.
 *
 * The channel protocols on top (channel.k8s.io v4/v5): every binary message starts with one byte
 * naming the stream: 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status as JSON), 4 resize;
 * v5 adds 255, "close the stream named by the next byte" (kubectl sends [255, 0] at stdin EOF).
 */
import * as crypto from 'crypto';
import { IncomingMessage } from 'http';
import { Duplex } from 'stream';

/** The GUID RFC 6455 §1.3 appends to the client's key. */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

/** Close codes used here (RFC 6455 §7.4.1). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_TOO_BIG = 1009;

/** Channel numbers of the Kubernetes remote command protocols. */
export const CHANNEL_STDIN = 0;
export const CHANNEL_STDOUT = 1;
export const CHANNEL_STDERR = 2;
export const CHANNEL_ERROR = 3;
export const CHANNEL_RESIZE = 4;
/** v5: [255, n] closes stream n. */
export const CHANNEL_CLOSE = 255;

export const PROTOCOL_V5 = 'v5.channel.k8s.io';
export const PROTOCOL_V4 = 'v4.channel.k8s.io';

/** The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key. Pure. */
export function acceptKey(clientKey: string): string {
  return crypto.createHash('sha1').update(clientKey + HANDSHAKE_GUID).digest('base64');
}

/** True when the request asks to upgrade to WebSocket (not SPDY or anything else). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** The subprotocols a client offers, in its order of preference. */
export function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  const joined = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return joined
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/**
 * Checks the opening handshake of `req` (RFC 6455 §4.2.1) and returns the 101 response to write,
 * or a reason the handshake cannot be completed. `protocol` is the chosen subprotocol (echoed in
 * Sec-WebSocket-Protocol). Pure; writes nothing.
 */
export function handshakeResponse(req: IncomingMessage, protocol: string): { response: string } | { error: string } {
  if (req.method !== 'GET') return { error: `a WebSocket upgrade must be a GET request, not ${req.method}` };
  if (!isWebSocketUpgrade(req)) return { error: 'the request does not ask for a WebSocket upgrade' };
  const version = String(req.headers['sec-websocket-version'] ?? '');
  if (version !== '13') return { error: `unsupported Sec-WebSocket-Version ${JSON.stringify(version)}: only 13 is supported` };
  const key = String(req.headers['sec-websocket-key'] ?? '');
  // The key is 16 random bytes in base64: 24 characters.
  if (Buffer.from(key, 'base64').length !== 16) return { error: 'missing or malformed Sec-WebSocket-Key' };
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(key)}`,
    `Sec-WebSocket-Protocol: ${protocol}`,
  ];
  return { response: lines.join('\r\n') + '\r\n\r\n' };
}

/**
 * Encodes one frame. A server sends unmasked frames; a client must mask (`mask: true`, a random
 * key). `fin` false starts or continues a fragmented message. Pure apart from the random key.
 */
export function encodeFrame(opcode: number, payload: Uint8Array, opts: { mask?: boolean; fin?: boolean } = {}): Buffer {
  const fin = opts.fin ?? true;
  const len = payload.length;
  let header: Buffer;
  if (len < 126) {
    header = Buffer.alloc(2);
    header[1] = len;
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  header[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  if (!opts.mask) return Buffer.concat([header, payload]);
  header[1] |= 0x80;
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([header, key, body]);
}

/** A binary message on channel `channel` (the first payload byte), as one frame. */
export function encodeChannelMessage(channel: number, data: Uint8Array, opts: { mask?: boolean } = {}): Buffer {
  const payload = Buffer.alloc(data.length + 1);
  payload[0] = channel;
  payload.set(data, 1);
  return encodeFrame(OPCODE_BINARY, payload, opts);
}

/** A close frame with a status code and a short reason (at most 123 bytes, as the RFC allows). */
export function encodeClose(code: number, reason = '', opts: { mask?: boolean } = {}): Buffer {
  const text = Buffer.from(reason).subarray(0, 123);
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return encodeFrame(OPCODE_CLOSE, payload, opts);
}

/** A complete message (data frames reassembled) or a control frame, as the parser yields them. */
export interface WebSocketMessage {
  opcode: number;
  payload: Buffer;
}

/** A violation of the framing rules; the connection should be closed with `closeCode`. */
export class WebSocketProtocolError extends Error {
  constructor(
    message: string,
    readonly closeCode: number = CLOSE_PROTOCOL_ERROR,
  ) {
    super(message);
    this.name = 'WebSocketProtocolError';
  }
}

/**
 * Parses a byte stream into messages. Feed it socket chunks with `push`; it returns the messages
 * completed so far: data messages reassembled from their fragments (opcode of the first frame),
 * control frames (ping, pong, close) as they come, even between fragments. `requireMask` is true
 * on the server side (clients must mask, RFC 6455 §5.1). Throws WebSocketProtocolError on a
 * malformed frame or a message above `maxMessageBytes`; after that the parser must not be used.
 * Not safe for concurrent use (one parser per connection).
 */
export class FrameParser {
  private buffered: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private fragmentOpcode = -1;

  constructor(private readonly opts: { requireMask: boolean; maxMessageBytes: number }) {}

  push(chunk: Buffer): WebSocketMessage[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const out: WebSocketMessage[] = [];
    for (;;) {
      const frame = this.nextFrame();
      if (!frame) break;
      const { fin, opcode, payload } = frame;
      if (opcode >= 0x8) {
        if (!fin) throw new WebSocketProtocolError('fragmented control frame');
        if (payload.length > 125) throw new WebSocketProtocolError('control frame longer than 125 bytes');
        out.push({ opcode, payload });
        continue;
      }
      if (opcode === OPCODE_CONTINUATION) {
        if (this.fragmentOpcode < 0) throw new WebSocketProtocolError('continuation frame without a message to continue');
      } else {
        if (opcode !== OPCODE_TEXT && opcode !== OPCODE_BINARY) throw new WebSocketProtocolError(`unknown opcode ${opcode}`);
        if (this.fragmentOpcode >= 0) throw new WebSocketProtocolError('new message before the previous one ended');
        this.fragmentOpcode = opcode;
      }
      this.fragmentBytes += payload.length;
      if (this.fragmentBytes > this.opts.maxMessageBytes) {
        throw new WebSocketProtocolError(`message larger than ${this.opts.maxMessageBytes} bytes`, CLOSE_TOO_BIG);
      }
      this.fragments.push(payload);
      if (fin) {
        out.push({ opcode: this.fragmentOpcode, payload: this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments) });
        this.fragments = [];
        this.fragmentBytes = 0;
        this.fragmentOpcode = -1;
      }
    }
    return out;
  }

  /** One whole frame from the buffer (unmasked), or undefined when more bytes are needed. */
  private nextFrame(): { fin: boolean; opcode: number; payload: Buffer } | undefined {
    const b = this.buffered;
    if (b.length < 2) return undefined;
    const fin = (b[0] & 0x80) !== 0;
    if ((b[0] & 0x70) !== 0) throw new WebSocketProtocolError('reserved bits set without a negotiated extension');
    const opcode = b[0] & 0x0f;
    const masked = (b[1] & 0x80) !== 0;
    if (this.opts.requireMask && !masked) throw new WebSocketProtocolError('client frame not masked');
    let len = b[1] & 0x7f;
    let offset = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      offset = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(this.opts.maxMessageBytes)) throw new WebSocketProtocolError(`frame larger than ${this.opts.maxMessageBytes} bytes`, CLOSE_TOO_BIG);
      len = Number(big);
      offset = 10;
    }
    if (len > this.opts.maxMessageBytes) throw new WebSocketProtocolError(`frame larger than ${this.opts.maxMessageBytes} bytes`, CLOSE_TOO_BIG);
    const keyLen = masked ? 4 : 0;
    if (b.length < offset + keyLen + len) return undefined;
    const payload = Buffer.from(b.subarray(offset + keyLen, offset + keyLen + len));
    if (masked) {
      const key = b.subarray(offset, offset + 4);
      for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
    }
    this.buffered = b.subarray(offset + keyLen + len);
    return { fin, opcode, payload };
  }
}

/**
 * A server-side WebSocket on an upgraded socket (after the 101 was written): emits messages to
 * `onMessage`, answers pings, answers a client's close and ends the socket; a protocol error is
 * answered with a close frame carrying its code. `onClose` is called once, whichever side ends.
 * Sends after close are ignored. The owner calls `close()` when done. Not for concurrent owners.
 */
export class ServerWebSocket {
  private readonly parser: FrameParser;
  private closed = false;
  private closeSent = false;
  private readonly finish: () => void;
  private readonly onMessage: (m: WebSocketMessage) => void;

  constructor(
    private readonly socket: Duplex,
    handlers: { onMessage: (m: WebSocketMessage) => void; onClose: () => void },
    maxMessageBytes: number,
  ) {
    this.parser = new FrameParser({ requireMask: true, maxMessageBytes });
    const finish = () => {
      if (this.closed) return;
      this.closed = true;
      handlers.onClose();
    };
    this.finish = finish;
    this.onMessage = handlers.onMessage;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('close', finish);
    socket.on('error', finish);
    socket.on('end', finish);
  }

  /** Handles bytes read from the client; the socket's data events come here, and so must the upgrade's `head`. */
  receive(chunk: Buffer): void {
    if (this.closed || chunk.length === 0) return;
    const finish = this.finish;
    let messages: WebSocketMessage[];
    try {
      messages = this.parser.push(chunk);
    } catch (err) {
      const code = err instanceof WebSocketProtocolError ? err.closeCode : CLOSE_PROTOCOL_ERROR;
      this.close(code, err instanceof Error ? err.message : String(err));
      finish();
      return;
    }
    for (const m of messages) {
      if (m.opcode === OPCODE_PING) this.write(encodeFrame(OPCODE_PONG, m.payload));
      else if (m.opcode === OPCODE_PONG) continue;
      else if (m.opcode === OPCODE_CLOSE) {
        // Echo the client's close code, as RFC 6455 §5.5.1 asks, then end.
        this.close(m.payload.length >= 2 ? m.payload.readUInt16BE(0) : CLOSE_NORMAL);
        finish();
        return;
      } else this.onMessage(m);
    }
  }

  get isClosed(): boolean {
    return this.closed || this.closeSent;
  }

  /** Sends `data` on a channel, split into messages of at most `chunkBytes`. */
  sendChannel(channel: number, data: Uint8Array, chunkBytes = 32 * 1024): void {
    for (let i = 0; i < data.length; i += chunkBytes) this.write(encodeChannelMessage(channel, data.subarray(i, i + chunkBytes)));
  }

  /** Sends a close frame and ends the socket (the client closes its side when it reads it). */
  close(code = CLOSE_NORMAL, reason = ''): void {
    if (this.closeSent) return;
    this.write(encodeClose(code, reason));
    this.closeSent = true;
    this.socket.end();
    // A client that never closes its side must not hold the socket open.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  private write(frame: Buffer): void {
    if (this.closeSent || this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(frame);
  }
}
