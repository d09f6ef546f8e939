/** Ingress status: the published address and when status.loadBalancer must be written. */
import { controllerService, desiredLoadBalancer, publishedAddress } from '../../services/ingress-controller/status';
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
