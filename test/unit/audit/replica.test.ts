import t from 'tap';
import { hostname } from 'node:os';
import { defaultReplicaId, replicaDirName } from '../../../src/audit/replica.js';

t.test('default replica id: host name, plus the port when it is not 8080', async (t) => {
  const host = hostname();
  t.equal(defaultReplicaId({ AIGOV_REPLICA_ID: 'pod-a' }, 9000), 'pod-a', 'the configured id wins');
  t.equal(defaultReplicaId({}, 8080), host, 'default port: the bare host name (as in earlier releases)');
  t.equal(defaultReplicaId({}, 8081), `${host}-8081`);
  t.not(defaultReplicaId({}, 8081), defaultReplicaId({}, 8082), 'two processes on one host differ');
  t.equal(defaultReplicaId({}, 8081), defaultReplicaId({}, 8081), 'stable across restarts');
  t.equal(defaultReplicaId({}, 0), `${host}-pid${process.pid}`, 'port 0: the process id');
  t.equal(replicaDirName(`${host}-8081`), `${host}-8081`.replace(/[^A-Za-z0-9_.-]/g, '_'));
});
