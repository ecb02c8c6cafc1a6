/**
 * The ports handed to servers in other processes (test/helpers/ports.ts) are ones the
 * kernel never hands out itself, so nothing else can take them between the pick and the
 * child's bind. The Raft test once hung for this: Vault could not bind its cluster port at
 * unseal and waited forever as a standby.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './ports.js';

const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];

describe('freePort', () => {
  it('picks distinct, bindable ports outside the ephemeral range', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    expect(ports.filter((p) => p >= low && p <= high)).toEqual([]);
    for (const port of ports.slice(0, 5)) {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('is never a port that listen(0) or an outgoing connection takes', async () => {
    const picked = new Set<number>();
    for (let i = 0; i < 20; i++) picked.add(await freePort());
    // What the kernel hands out by itself: listeners on port 0 and the local ends of connections.
    const listeners = await Promise.all(
      Array.from({ length: 20 }, () => {
        const s = net.createServer((socket) => socket.destroy());
        return new Promise<net.Server>((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
      }),
    );
    try {
      const taken: number[] = listeners.map((s) => (s.address() as net.AddressInfo).port);
      for (const s of listeners) {
        const socket = net.connect((s.address() as net.AddressInfo).port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        taken.push(socket.localPort as number);
        socket.destroy();
      }
      expect(taken.every((p) => p >= low && p <= high)).toBe(true);
      expect(taken.filter((p) => picked.has(p))).toEqual([]);
    } finally {
      await Promise.all(listeners.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  });
});
