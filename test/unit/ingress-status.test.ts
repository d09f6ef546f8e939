/** Ingress status: the published address and when status.loadBalancer must be written. */
import { controllerService, desiredLoadBalancer, loadBalancerAddresses, proxyModeIngress, publishedAddress } from '../../services/ingress-controller/status';
import { Service } from '../../services/lib/generated/kubemu/core/v1/core';
import { Ingress } from '../../services/lib/generated/kubemu/networking/v1/networking';

const withLb = (...ips: string[]): Ingress => ({ metadata: { name: 'i', namespace: 'default' }, status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } });
const ours = [{ ip: '127.0.0.1' }, { ip: '127.129.0.5' }];

describe('ingress status - desiredLoadBalancer', () => {
  it.each([
    ['served, empty status', withLb(), true, { ip: '127.129.0.5' }, [{ ip: '127.129.0.5' }]],
    ['served, already right (no write)', withLb('127.129.0.5'), true, { ip: '127.129.0.5' }, undefined],
    ['served, old fallback address replaced', withLb('127.0.0.1'), true, { ip: '127.129.0.5' }, [{ ip: '127.129.0.5' }]],
    ['served, another address too', withLb('127.129.0.5', '10.0.0.1'), true, { ip: '127.129.0.5' }, [{ ip: '127.129.0.5' }]],
    ['served, hostname address', withLb(), true, { hostname: 'lb.example' }, [{ hostname: 'lb.example' }]],
    ['no longer served: ours removed', withLb('127.129.0.5'), false, { ip: '127.129.0.5' }, []],
    ['no longer served: others kept', withLb('10.0.0.1', '127.0.0.1'), false, { ip: '127.129.0.5' }, [{ ip: '10.0.0.1' }]],
    ['never served: untouched', withLb('10.0.0.1'), false, { ip: '127.129.0.5' }, undefined],
  ])('%s', (_, ing, served, address, want) => {
    expect(desiredLoadBalancer(ing, served, address, ours)).toEqual(want);
  });
});

describe('ingress status - published address and Service', () => {
  it('the LoadBalancer ingress IP of the Service, else the fallback', () => {
    expect(publishedAddress({ status: { loadBalancer: { ingress: [{ ip: '127.129.0.9' }] } } }, '127.0.0.1')).toEqual({ ip: '127.129.0.9' });
    expect(publishedAddress({ status: {} }, '127.0.0.1')).toEqual({ ip: '127.0.0.1' });
    expect(publishedAddress(undefined, '127.0.0.2')).toEqual({ ip: '127.0.0.2' });
  });

  it('the controller Service is a selector-less LoadBalancer with http 80 and https 443', () => {
    const svc = controllerService('ingress-nginx', 'ingress-nginx-controller', 8080, 8443);
    expect(svc.spec?.type).toBe('LoadBalancer');
    expect(svc.spec?.selector).toBeUndefined();
    expect(svc.spec?.ports?.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ['http', 80, 8080],
      ['https', 443, 8443],
    ]);
  });
});

describe('ingress status - the controller Service as its own load balancer (ipMode Proxy)', () => {
  const lbService = (ingress: NonNullable<NonNullable<Service['status']>['loadBalancer']>['ingress'], type = 'LoadBalancer'): Service => ({
    ...controllerService('ingress-nginx', 'ingress-nginx-controller', 8080, 8443),
    spec: { ...controllerService('ingress-nginx', 'ingress-nginx-controller', 8080, 8443).spec, type },
    status: { loadBalancer: { ingress } },
  });

  it('proxyModeIngress marks every IP entry Proxy, leaves hostnames, and is undefined when nothing changes', () => {
    expect(proxyModeIngress(lbService([{ ip: '127.129.0.5' }, { hostname: 'lb.example' }]))).toEqual([{ ip: '127.129.0.5', ipMode: 'Proxy' }, { hostname: 'lb.example' }]);
    expect(proxyModeIngress(lbService([{ ip: '127.129.0.5', ipMode: 'VIP' }]))).toEqual([{ ip: '127.129.0.5', ipMode: 'Proxy' }]);
    expect(proxyModeIngress(lbService([{ ip: '127.129.0.5', ipMode: 'Proxy' }]))).toBeUndefined();
    expect(proxyModeIngress(lbService([]))).toBeUndefined();
    expect(proxyModeIngress(lbService([{ hostname: 'lb.example' }]))).toBeUndefined();
    expect(proxyModeIngress(lbService([{ ip: '127.129.0.5' }], 'ClusterIP'))).toBeUndefined();
    expect(proxyModeIngress(undefined)).toBeUndefined();
  });

  it('loadBalancerAddresses: Proxy IPs × Service ports, https by name, nothing before Proxy or for other types', () => {
    expect(loadBalancerAddresses(lbService([{ ip: '127.129.0.5', ipMode: 'Proxy' }]))).toEqual([
      { ip: '127.129.0.5', port: 80, secure: false },
      { ip: '127.129.0.5', port: 443, secure: true },
    ]);
    expect(loadBalancerAddresses(lbService([{ ip: '127.129.0.5' }]))).toEqual([]);
    expect(loadBalancerAddresses(lbService([{ ip: '127.129.0.5', ipMode: 'VIP' }]))).toEqual([]);
    expect(loadBalancerAddresses(lbService([{ ip: '127.129.0.5', ipMode: 'Proxy' }], 'ClusterIP'))).toEqual([]);
    expect(loadBalancerAddresses(undefined)).toEqual([]);
    const custom: Service = {
      metadata: { name: 'x', namespace: 'y' },
      spec: { type: 'LoadBalancer', ports: [{ port: 443 }, { name: 'web', port: 8000 }, { name: 'dns', port: 53, protocol: 'UDP' }, { name: 'bad', port: 0 }] },
      status: { loadBalancer: { ingress: [{ ip: '127.129.0.9', ipMode: 'Proxy' }, { ip: 'not-an-ip', ipMode: 'Proxy' }] } },
    };
    expect(loadBalancerAddresses(custom)).toEqual([
      { ip: '127.129.0.9', port: 443, secure: true },
      { ip: '127.129.0.9', port: 8000, secure: false },
    ]);
  });
});
