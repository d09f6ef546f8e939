/**
 * The hand-written WebSocket layer of pods/exec: handshake key, frame encoding and parsing
 * (lengths at every boundary, masking, fragmentation, control frames between fragments, limits),
 * and ServerWebSocket on a real socket (pong, close echo, channel messages).
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import {
  acceptKey,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TOO_BIG,
  encodeChannelMessage,
  encodeClose,
  encodeFrame,
  FrameParser,
  handshakeResponse,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PING,
  OPCODE_TEXT,
  PROTOCOL_V5,
  ServerWebSocket,
  WebSocketMessage,
  WebSocketProtocolError,
} from '../../services/kube-apiserver/rest/websocket';
import { channelText, runChannels } from '../harness/websocket-client';

const serverParser = () => new FrameParser({ requireMask: true, maxMessageBytes: 1 << 20 });

describe('websocket - handshake', () => {
  test('Sec-WebSocket-Accept of the RFC 6455 example key', () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  test('the 101 names the chosen subprotocol; bad requests are refused with a reason', () => {
    const req = (method: string, headers: Record<string, string>) => ({ method, headers }) as unknown as http.IncomingMessage;
    const good = { upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    const ok = handshakeResponse(req('GET', good), PROTOCOL_V5);
    expect('response' in ok && ok.response).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n');
    expect(handshakeResponse(req('POST', good), PROTOCOL_V5)).toEqual({ error: expect.stringContaining('GET') });
    expect(handshakeResponse(req('GET', { ...good, 'sec-websocket-version': '8' }), PROTOCOL_V5)).toEqual({ error: expect.stringContaining('Version') });
    expect(handshakeResponse(req('GET', { ...good, 'sec-websocket-key': 'short' }), PROTOCOL_V5)).toEqual({ error: expect.stringContaining('Key') });
    expect(handshakeResponse(req('GET', { ...good, upgrade: 'SPDY/3.1' }), PROTOCOL_V5)).toEqual({ error: expect.stringContaining('WebSocket') });
  });
});

describe('websocket - framing', () => {
  test.each([0, 1, 125, 126, 127, 65535, 65536, 200000])('a masked %i-byte binary frame round-trips', (len) => {
    const payload = Buffer.alloc(len, 0).map((_, i) => i % 251);
    const frame = encodeFrame(OPCODE_BINARY, payload, { mask: true });
    const headerLen = len < 126 ? 2 : len < 65536 ? 4 : 10;
    expect(frame.length).toBe(headerLen + 4 + len);
    const [m] = serverParser().push(frame);
    expect(m.opcode).toBe(OPCODE_BINARY);
    expect(Buffer.compare(m.payload, Buffer.from(payload))).toBe(0);
  });

  test('frames fed one byte at a time come out whole and in order', () => {
    const p = serverParser();
    const bytes = Buffer.concat([encodeChannelMessage(0, Buffer.from('hello'), { mask: true }), encodeFrame(OPCODE_PING, Buffer.from('x'), { mask: true })]);
    const got: WebSocketMessage[] = [];
    for (const b of bytes) got.push(...p.push(Buffer.from([b])));
    expect(got.map((m) => [m.opcode, m.payload.toString('latin1')])).toEqual([
      [OPCODE_BINARY, '\x00hello'],
      [OPCODE_PING, 'x'],
    ]);
  });

  test('a fragmented message is reassembled, with a ping between its fragments delivered at once', () => {
    const p = serverParser();
    const got = p.push(
      Buffer.concat([
        encodeFrame(OPCODE_BINARY, Buffer.from([0, 97]), { mask: true, fin: false }),
        encodeFrame(OPCODE_PING, Buffer.from('p'), { mask: true }),
        encodeFrame(OPCODE_CONTINUATION, Buffer.from('bc'), { mask: true, fin: false }),
        encodeFrame(OPCODE_CONTINUATION, Buffer.from('d'), { mask: true }),
      ]),
    );
    expect(got.map((m) => [m.opcode, m.payload.toString('latin1')])).toEqual([
      [OPCODE_PING, 'p'],
      [OPCODE_BINARY, '\x00abcd'],
    ]);
  });

  test('protocol violations are errors with the close code to send', () => {
    const expectError = (bytes: Buffer, code: number, parser = serverParser()) => {
      try {
        parser.push(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(WebSocketProtocolError);
        expect((err as WebSocketProtocolError).closeCode).toBe(code);
        return;
      }
      throw new Error('no error');
    };
    expectError(encodeFrame(OPCODE_BINARY, Buffer.from('x')), CLOSE_PROTOCOL_ERROR); // unmasked from a client
    expectError(encodeFrame(OPCODE_CONTINUATION, Buffer.from('x'), { mask: true }), CLOSE_PROTOCOL_ERROR);
    expectError(encodeFrame(OPCODE_PING, Buffer.alloc(126), { mask: true }), CLOSE_PROTOCOL_ERROR);
    expectError(encodeFrame(OPCODE_PING, Buffer.from('x'), { mask: true, fin: false }), CLOSE_PROTOCOL_ERROR);
    const reserved = encodeFrame(OPCODE_TEXT, Buffer.from('x'), { mask: true });
    reserved[0] |= 0x40;
    expectError(reserved, CLOSE_PROTOCOL_ERROR);
    expectError(encodeFrame(OPCODE_BINARY, Buffer.alloc(2000), { mask: true }), CLOSE_TOO_BIG, new FrameParser({ requireMask: true, maxMessageBytes: 1000 }));
    // Too big only once the fragments add up.
    const small = new FrameParser({ requireMask: true, maxMessageBytes: 1000 });
    expect(small.push(encodeFrame(OPCODE_BINARY, Buffer.alloc(600), { mask: true, fin: false }))).toEqual([]);
    expectError(encodeFrame(OPCODE_CONTINUATION, Buffer.alloc(600), { mask: true }), CLOSE_TOO_BIG, small);
  });

  test('a close frame carries its code and reason', () => {
    const [m] = serverParser().push(encodeClose(1000, 'bye', { mask: true }));
    expect(m.opcode).toBe(OPCODE_CLOSE);
    expect(m.payload.readUInt16BE(0)).toBe(1000);
    expect(m.payload.subarray(2).toString()).toBe('bye');
  });
});

describe('websocket - ServerWebSocket on a socket', () => {
  let server: http.Server;
  let url: string;
  const received: Buffer[] = [];

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.writeHead(404).end());
    // Echoes stdin back on stdout once stdin is closed, then ends with a Success status.
    server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
      const hs = handshakeResponse(req, PROTOCOL_V5);
      if ('error' in hs) return socket.destroy();
      socket.write(hs.response);
      const ws: ServerWebSocket = new ServerWebSocket(
        socket,
        {
          onMessage: (m) => {
            if (m.payload[0] === 0) received.push(m.payload.subarray(1));
            if (m.payload[0] === 255) {
              ws.sendChannel(1, Buffer.concat(received), 4);
              ws.sendChannel(3, Buffer.from('{"metadata":{},"status":"Success"}'));
              ws.close();
            }
          },
          onClose: () => undefined,
        },
        1 << 20,
      );
      ws.receive(head);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('answers a ping, reassembles channel messages split in chunks and closes normally', async () => {
    const s = await runChannels(url, { protocols: ['v5.channel.k8s.io'], stdin: [Buffer.from('hello '), Buffer.from('world')], ping: true });
    if (!('channels' in s)) throw new Error(`refused: ${s.statusCode}`);
    expect(s.protocol).toBe('v5.channel.k8s.io');
    expect(s.pongs).toBe(1);
    expect(channelText(s, 1)).toBe('hello world');
    expect(s.status).toEqual({ metadata: {}, status: 'Success' });
    expect(s.closeCode).toBe(1000);
  });
});
