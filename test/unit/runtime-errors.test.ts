import * as grpc from '@grpc/grpc-js';
import { RuntimeError, runtimeErrors } from '../../services/container-runtime/errors';
import { toStatus } from '../../services/container-runtime/grpc-service';
import { ExecutableNotFoundError, ImageCatalog, ImagePullError } from '../../services/container-runtime/images/catalog';
import { InvalidImageNameError } from '../../services/container-runtime/images/reference';
import { PodIPExhaustedError } from '../../services/container-runtime/network/ipam';

describe('runtime error table', () => {
  test('toStatus - typed runtime errors map to their codes with the message as details', () => {
    expect(toStatus(runtimeErrors.containerNotFound('abc'))).toEqual({ code: grpc.status.NOT_FOUND, details: 'container "abc" not found' });
    expect(toStatus(runtimeErrors.required('config.metadata.name'))).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'config.metadata.name is required' });
    expect(toStatus(runtimeErrors.precondition('busy')).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(toStatus(runtimeErrors.startError('exec failed'))).toEqual({ code: grpc.status.FAILED_PRECONDITION, details: 'StartError: exec failed' });
    expect(toStatus(new RuntimeError('AlreadyExists', 'x')).code).toBe(grpc.status.ALREADY_EXISTS);
    expect(toStatus(new RuntimeError('DeadlineExceeded', 'x')).code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  test('toStatus - image and IPAM errors carry the kubelet reason as the message prefix', () => {
    const catalog = new ImageCatalog();
    const pull = (image: string, policy?: string) => {
      try {
        catalog.pull(image, policy);
      } catch (err) {
        return toStatus(err);
      }
      throw new Error(`${image} pulled`);
    };
    expect(pull('nothing-here:1')).toEqual({ code: grpc.status.NOT_FOUND, details: expect.stringMatching(/^ErrImagePull: failed to pull image "nothing-here:1"/) });
    expect(pull('nothing-here:1', 'Never')).toEqual({ code: grpc.status.FAILED_PRECONDITION, details: expect.stringMatching(/^ErrImageNeverPull: /) });
    expect(pull('Nope')).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^InvalidImageName: /) });
    expect(toStatus(new ImagePullError('x', 'boom')).details).toBe('ErrImagePull: boom');
    expect(toStatus(new InvalidImageNameError('X', 'bad')).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(toStatus(new ExecutableNotFoundError('foo')).details).toMatch(/^StartError: .*"foo": executable file not found/);
    expect(toStatus(new PodIPExhaustedError('127.64.0.0/30', 'u')).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  test('toStatus - anything else is INTERNAL', () => {
    expect(toStatus(new TypeError('bug'))).toEqual({ code: grpc.status.INTERNAL, details: 'bug' });
    expect(toStatus('weird')).toEqual({ code: grpc.status.INTERNAL, details: 'weird' });
  });
});
