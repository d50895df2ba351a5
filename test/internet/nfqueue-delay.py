#!/usr/bin/env python3
"""
A stand-in for `tc netem delay D loss P` on kernels without sch_netem (test/hardening/
bad-network.test.ts): holds every packet iptables hands to NFQUEUE queue Q for D milliseconds,
then accepts it, or drops it with probability P. Plain netlink (NETLINK_NETFILTER, nfnetlink_queue),
no library. Packets keep their order (one fixed delay). Run it inside the namespace whose
iptables rules send packets to the queues:

    nfqueue-delay.py <delay-ms> <loss-fraction> <queue> [<queue> …]

Prints "ready" once bound; runs until killed. If it dies, the kernel drops queued packets (the
rules use --queue-bypass, so traffic then flows undelayed instead of stopping).
"""
import heapq
import os
import random
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_DROP = 0
NF_ACCEPT = 1

delay = float(sys.argv[1]) / 1000.0
loss = float(sys.argv[2])
queues = [int(q) for q in sys.argv[3:]]

sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
sock.bind((0, 0))
seq = 0


def attr(kind, payload):
    pad = (4 - len(payload) % 4) % 4
    return struct.pack('=HH', 4 + len(payload), kind) + payload + b'\0' * pad


def send(msg_type, queue, attrs, flags=NLM_F_REQUEST):
    global seq
    seq += 1
    body = struct.pack('=BBH', socket.AF_UNSPEC, 0, socket.htons(queue)) + b''.join(attrs)
    sock.send(struct.pack('=IHHII', 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body)


def expect_ack():
    data = sock.recv(65536)
    length, kind = struct.unpack_from('=IH', data, 0)
    if kind == NLMSG_ERROR:
        err = struct.unpack_from('=i', data, 16)[0]
        if err != 0:
            raise OSError(-err, os.strerror(-err))


for q in queues:
    send(NFQNL_MSG_CONFIG, q, [attr(NFQA_CFG_CMD, struct.pack('=BBH', NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET)))], NLM_F_REQUEST | NLM_F_ACK)
    expect_ack()
    send(NFQNL_MSG_CONFIG, q, [attr(NFQA_CFG_PARAMS, struct.pack('>IB', 0, NFQNL_COPY_META))], NLM_F_REQUEST | NLM_F_ACK)
    expect_ack()
    send(NFQNL_MSG_CONFIG, q, [attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack('>I', 65536))], NLM_F_REQUEST | NLM_F_ACK)
    expect_ack()
    # No NFQA_CFG_F_GSO: the kernel cuts GSO packets into wire-sized ones before queueing them,
    # so the loss is of packets as on a wire (1 % of them), not of 64 KiB offload batches.

print('ready', flush=True)

held = []  # (due, order, queue, packet id)
order = 0
rng = random.SystemRandom()
while True:
    timeout = max(0.0, held[0][0] - time.monotonic()) if held else 1.0
    readable, _, _ = select.select([sock], [], [], timeout)
    if readable:
        for _ in range(256):
            try:
                data = sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            at = 0
            while at + 16 <= len(data):
                length, kind = struct.unpack_from('=IH', data, at)
                if length < 16:
                    break
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    queue = socket.ntohs(struct.unpack_from('=H', data, at + 18)[0])
                    a = at + 20
                    while a + 4 <= at + length:
                        alen, akind = struct.unpack_from('=HH', data, a)
                        if alen < 4:
                            break
                        if akind & 0x7fff == NFQA_PACKET_HDR:
                            pid = struct.unpack_from('>I', data, a + 4)[0]
                            order += 1
                            heapq.heappush(held, (time.monotonic() + delay, order, queue, pid))
                        a += (alen + 3) & ~3
                at += (length + 3) & ~3
    now = time.monotonic()
    while held and held[0][0] <= now:
        _, _, queue, pid = heapq.heappop(held)
        verdict = NF_DROP if rng.random() < loss else NF_ACCEPT
        send(NFQNL_MSG_VERDICT, queue, [attr(NFQA_VERDICT_HDR, struct.pack('>II', verdict, pid))])
