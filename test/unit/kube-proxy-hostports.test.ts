/** kube-proxy's wildcard-port diagnostic: /proc/net parsing, and a real wildcard listener seen. */
import * as dgram from 'dgram';
import * as net from 'net';
import { WildcardPortCache, wildcardPorts } from '../../services/kube-proxy/hostports';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0051 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 00000000:0052 0100007F:1234 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  1: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5 2 0000000000000000 0
  2: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 6 2 0000000000000000 0
`;

describe('kube-proxy hostports - wildcard ports', () => {
  it('parses listening TCP and bound UDP wildcard sockets only', () => {
    const files: Record<string, string> = { '/proc/net/tcp': TCP, '/proc/net/tcp6': TCP6, '/proc/net/udp': UDP };
    const got = wildcardPorts((f) => {
      if (!(f in files)) throw new Error('ENOENT');
      return files[f];
    });
    expect([...got.TCP].sort((a, b) => a - b)).toEqual([80, 443]);
    expect([...got.UDP]).toEqual([53]);
  });

  it('unreadable /proc: nothing, never a throw', () => {
    const got = wildcardPorts(() => {
      throw new Error('EACCES');
    });
    expect(got.TCP.size + got.UDP.size).toBe(0);
  });

  it('sees a real wildcard TCP listener and UDP socket', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '0.0.0.0', r));
    try {
      const tcpPort = (server.address() as net.AddressInfo).port;
      const udpPort = udp.address().port;
      const cache = new WildcardPortCache(0);
      expect(cache.has('TCP', tcpPort)).toBe(true);
      expect(cache.has('UDP', udpPort)).toBe(true);
    } finally {
      server.close();
      udp.close();
    }
  });
});
