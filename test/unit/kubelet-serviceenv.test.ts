/** Kubernetes' Service environment variables for pods (services/kubelet/serviceenv.ts). */
import { Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { serviceEnvFor } from '../../services/kubelet/serviceenv';

const svc = (namespace: string, name: string, clusterIP: string, ports: { name?: string; port: number; protocol?: string }[]): Service => ({
  metadata: { name, namespace },
  spec: { clusterIP, ports },
});

const services = [
  svc('default', 'kubernetes', '127.128.0.1', [{ name: 'https', port: 443 }]),
  svc('shop', 'web-front', '127.128.0.7', [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }]),
  svc('shop', 'headless', 'None', [{ port: 80 }]),
  svc('other', 'db', '127.128.0.9', [{ port: 5432 }]),
];

test('kubelet service env - Kubernetes variables for the namespace\'s Services and the kubernetes Service', () => {
  const env = serviceEnvFor('shop', services);
  expect(env).toMatchObject({
    KUBERNETES_SERVICE_HOST: '127.128.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: 'tcp://127.128.0.1:443',
    KUBERNETES_PORT_443_TCP: 'tcp://127.128.0.1:443',
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: '127.128.0.1',
    WEB_FRONT_SERVICE_HOST: '127.128.0.7',
    WEB_FRONT_SERVICE_PORT: '80',
    WEB_FRONT_SERVICE_PORT_HTTP: '80',
    WEB_FRONT_SERVICE_PORT_DNS: '53',
    WEB_FRONT_PORT_53_UDP: 'udp://127.128.0.7:53',
    WEB_FRONT_PORT_53_UDP_PROTO: 'udp',
  });
  // Headless Services and other namespaces' Services give nothing.
  expect(Object.keys(env).some((k) => k.startsWith('HEADLESS_') || k.startsWith('DB_'))).toBe(false);
});

test('kubelet service env - enableServiceLinks false keeps only the kubernetes Service; own namespace wins', () => {
  const env = serviceEnvFor('shop', services, false);
  expect(Object.keys(env).every((k) => k.startsWith('KUBERNETES_'))).toBe(true);
  const own = serviceEnvFor('default', [...services, svc('default', 'web', '127.128.0.20', [{ port: 8080 }])]);
  expect(own.WEB_SERVICE_PORT).toBe('8080');
});
