/**
 * Loopback ports for servers a test starts in another process (Vault, nginx, keygate).
 *
 * Such a port is picked now and bound later, sometimes much later: a Vault Raft node binds
 * its cluster port only when it is unsealed. A port from the kernel's ephemeral range can
 * be taken in between by anything else on the machine: every outgoing connection gets its
 * local port from that range, and so does every listen(0). Vault then logs the bind error
 * and waits forever as a standby. So ports come from outside that range, where the kernel
 * never hands one out by itself; only another pick like this one could collide, and picks
 * are random, checked free by binding, and never repeated within a process.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

const LOWEST = 10_000;
const given = new Set<number>();

/** The kernel's ephemeral range (Linux's default when it cannot be read). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low as number, high as number];
  } catch {
    // Not Linux: the default below.
  }
  return [32_768, 60_999];
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free loopback port outside the ephemeral range, for a server another process will bind. */
export async function freePort(): Promise<number> {
  const [low, high] = ephemeralRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (65_536 - LOWEST));
    if ((port >= low && port <= high) || given.has(port)) continue;
    if (await bindable(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`ports: no free loopback port from ${LOWEST} to 65535 outside the ephemeral range ${low}-${high}`);
}
