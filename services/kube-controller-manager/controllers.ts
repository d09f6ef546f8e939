/**
 * Every controller the controller-manager runs, one row each (kube-controller-manager's
 * --controllers list). A controller lives in its own folder and exports its descriptor.
 */
import { ControllerDescriptor } from './context';
import { nodeLifecycleController } from './nodelifecycle/controller';
import { taintEvictionController } from './nodelifecycle/tainteviction';
import { daemonSetController } from './daemonset/controller';
import { namespaceController } from './namespace/controller';
import { statefulSetController } from './statefulset/controller';
import { garbageCollectorController } from './garbagecollector/controller';
import { persistentVolumeBinderController } from './volume/controller';
import { endpointsController } from './endpoints/controller';
import { replicaSetController } from './replicaset/replicaset';
import { deploymentController } from './deployment/deployment';
import { jobController } from './job/controller';
import { ttlAfterFinishedController } from './ttlafterfinished/controller';
import { cronJobController } from './cronjob/controller';

export const CONTROLLERS: ControllerDescriptor[] = [
  nodeLifecycleController,
  taintEvictionController,
  daemonSetController,
  namespaceController,
  statefulSetController,
  garbageCollectorController,
  persistentVolumeBinderController,
  endpointsController,
  replicaSetController,
  deploymentController,
  jobController,
  ttlAfterFinishedController,
  cronJobController,
];
