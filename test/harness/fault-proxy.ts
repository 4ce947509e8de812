import net from 'node:net';

/**
 * A loopback TCP proxy in front of a real server (registry, S3) that misbehaves on purpose, one
 * connection at a time: pass bytes through, cut (FIN) or reset (RST) the connection after N bytes
 * of the server's answer, trickle the answer a byte at a time, or throttle it. Every loop is
 * bounded by the bytes the server sends; timers stop with the connection.
 */
export type Fault =
  | { kind: 'pass' }
  | { kind: 'cut'; after: number }
  | { kind: 'reset'; after: number }
  /** One byte every `everyMs`, after the first `after` bytes (default 0) passed at full speed. */
  | { kind: 'trickle'; everyMs: number; after?: number }
  | { kind: 'throttle'; bytesPerSecond: number };

export interface FaultProxy {
  host: string;
  port: number;
  /** Connections accepted, and how many were cut or reset (the fault actually fired). */
  stats: { connections: number; cuts: number; resets: number; bytesToClient: number };
  /** Choose the fault for each new connection (index counts from 0 since the last setPlan). */
  setPlan(plan: (index: number) => Fault): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let plan: (index: number) => Fault = () => ({ kind: 'pass' });
  let index = 0;
  const sockets = new Set<net.Socket>();
  const stats = { connections: 0, cuts: 0, resets: 0, bytesToClient: 0 };

  const server = net.createServer((client) => {
    stats.connections++;
    const fault = plan(index++);
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const timers: NodeJS.Timeout[] = [];
    const close = () => {
      for (const t of timers) clearInterval(t);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', () => {
      // Let what is queued drain first (trickle/throttle), then close.
      if (queue.length === 0) close();
      else ended = true;
    });
    client.pipe(upstream);

    let sent = 0;
    const queue: Buffer[] = [];
    let ended = false;
    upstream.on('data', (chunk: Buffer) => (stats.bytesToClient += chunk.length));

    if (fault.kind === 'pass') {
      upstream.pipe(client);
      return;
    }
    if (fault.kind === 'cut' || fault.kind === 'reset') {
      upstream.on('data', (chunk: Buffer) => {
        const room = fault.after - sent;
        if (chunk.length < room) {
          sent += chunk.length;
          client.write(chunk);
          return;
        }
        client.write(chunk.subarray(0, Math.max(0, room)));
        sent = fault.after;
        upstream.destroy();
        if (fault.kind === 'cut') {
          stats.cuts++;
          client.end();
        } else {
          stats.resets++;
          client.resetAndDestroy();
        }
      });
      upstream.on('end', () => client.end());
      return;
    }
    // trickle / throttle: queue the answer and release it on a clock.
    const perTick = fault.kind === 'trickle' ? 1 : Math.max(1, Math.round(fault.bytesPerSecond / 20));
    const tickMs = fault.kind === 'trickle' ? fault.everyMs : 50;
    let free = fault.kind === 'trickle' ? (fault.after ?? 0) : 0;
    upstream.on('data', (chunk: Buffer) => {
      if (free > 0 && queue.length === 0) {
        const now = chunk.subarray(0, free);
        free -= now.length;
        client.write(now);
        chunk = chunk.subarray(now.length);
        if (chunk.length === 0) return;
      }
      queue.push(chunk);
      if (queue.reduce((n, b) => n + b.length, 0) > 256 * 1024) upstream.pause();
    });
    const tick = setInterval(() => {
      let budget = perTick;
      while (budget > 0 && queue.length > 0) {
        const head = queue[0]!;
        const take = Math.min(budget, head.length);
        client.write(head.subarray(0, take));
        budget -= take;
        if (take === head.length) queue.shift();
        else queue[0] = head.subarray(take);
      }
      if (queue.length === 0) {
        if (ended) close();
        else upstream.resume();
      }
    }, tickMs);
    timers.push(tick);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    stats,
    setPlan(p) {
      plan = p;
      index = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
