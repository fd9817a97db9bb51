package io.megalith.parallel.transport.netty;

import io.megalith.comm.CommException;
import io.megalith.comm.CommTimeoutException;
import io.megalith.parallel.transport.Message;
import io.megalith.parallel.transport.MessageKey;
import io.megalith.parallel.transport.PeerAddress;
import io.megalith.parallel.transport.Rendezvous;
import io.megalith.parallel.transport.Transport;
import io.megalith.parallel.transport.netty.Control.Goodbye;
import io.megalith.parallel.transport.netty.Control.Hello;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link Transport} over TCP with Netty: one instance per rank, a full mesh of authenticated
 * connections (rank i dials every j > i; each connection carries both directions).
 *
 * <p>Wire format: see {@link Frames}. Handshake: mutual HMAC-SHA256 challenge-response keyed by the
 * job secret (see {@link Control} and {@link Handshake}). Sends from a direct buffer are zero-copy;
 * received payloads stay in Netty's direct buffers until the {@link Message} is closed.
 *
 * <p>Send futures complete on a Netty I/O thread: do not block in their dependent stages.
 */
public final class NettyTransport implements Transport {
    private static final Logger log = LoggerFactory.getLogger(NettyTransport.class);
    /** Every I/O thread of every rank has a name starting with this. */
    static final String THREAD_NAME_PREFIX = "megalith-netty-";
    private static final long RETRY_MS = 100;
    /** Most bytes of released large-frame buffers kept for reuse (see {@link RecvBufferPool}). */
    static final long RECV_POOL_BYTES = 64 << 20;

    private final int rank;
    private final int worldSize;
    private final TransportConfig cfg;
    private final IoFlavor io = IoFlavor.BEST;
    private final EventLoopGroup group;
    private final ControlCodec codec = new ControlCodec();
    private final Mailbox[] mailboxes;
    private final RecvBufferPool recvPool = new RecvBufferPool(RECV_POOL_BYTES);
    private final Channel[] channels; // guarded by this until start returns, then only read
    private final String[] lastError; // guarded by this: what went wrong with each rank, for the timeout message
    private final UnauthenticatedConnections unauthenticated;
    private final RefusalLog capRefusals;
    private final InetAddress[] expectedHosts; // guarded by this: where each lower rank published it listens
    private PeerAddress[] peers; // set once before dialling, then only read
    private long dialDeadline;
    private int connected; // guarded by this
    private CommException refusal; // guarded by this
    private volatile boolean closed;
    private Channel server;
    private PeerAddress address;

    private NettyTransport(int rank, int worldSize, TransportConfig cfg) {
        this.rank = rank;
        this.worldSize = worldSize;
        this.cfg = cfg;
        this.group = new MultiThreadIoEventLoopGroup(cfg.ioThreads(),
                new DefaultThreadFactory(THREAD_NAME_PREFIX + "r" + rank, true), io.factory());
        this.mailboxes = new Mailbox[worldSize];
        for (int p = 0; p < worldSize; p++) mailboxes[p] = new Mailbox(rank, p);
        this.channels = new Channel[worldSize];
        this.lastError = new String[worldSize];
        this.unauthenticated = new UnauthenticatedConnections(cfg.handshakeLimits());
        this.capRefusals = new RefusalLog(log, rank, cfg.handshakeLimits(), group.next());
        this.expectedHosts = new InetAddress[worldSize];
    }

    /**
     * Binds, publishes this rank's address through {@code rendezvous}, connects and authenticates the full
     * mesh, and returns once every peer is connected. Throws {@link CommException} naming the peer if a
     * peer refuses this rank, or {@link CommTimeoutException} naming the ranks still missing after
     * {@code cfg.connectTimeout()} (counted from the end of the rendezvous).
     */
    public static NettyTransport start(int rank, int worldSize, TransportConfig cfg, Rendezvous rendezvous) {
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " out of range for world size " + worldSize);
        }
        Objects.requireNonNull(rendezvous, "rendezvous");
        NettyTransport t = new NettyTransport(rank, worldSize, Objects.requireNonNull(cfg, "cfg"));
        try {
            t.bind();
            List<PeerAddress> all = rendezvous.exchange(t.address);
            if (all.size() != worldSize) {
                throw new IllegalStateException("rendezvous returned " + all.size() + " addresses for world size " + worldSize);
            }
            long deadline = System.nanoTime() + cfg.connectTimeout().toNanos();
            for (int p = 0; p < worldSize; p++) {
                if (all.get(p).rank() != p) throw new IllegalStateException("rendezvous entry " + p + " is for rank " + all.get(p).rank());
            }
            t.expectLowerRanks(all);
            t.peers = all.toArray(PeerAddress[]::new);
            t.dialDeadline = deadline;
            for (int p = rank + 1; p < worldSize; p++) t.dial(all.get(p), deadline);
            t.awaitMesh(deadline);
            log.debug("rank {}: connected to {} peers ({})", rank, worldSize - 1, t.io.name());
            return t;
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return worldSize;
    }

    /** Where this rank listens (the address it published). */
    public PeerAddress address() {
        return address;
    }

    /** True when the native epoll transport is in use, false for NIO. */
    public boolean usesEpoll() {
        return io.name().equals("epoll");
    }

    /**
     * {@inheritDoc} A direct {@code payload} is written without copying (a heap one is copied by Netty);
     * a send to oneself copies at once. The future fails with {@link CommException} if the peer is or
     * becomes dead before the bytes are written.
     *
     * @throws IllegalArgumentException if the payload exceeds {@link TransportConfig#maxPayloadBytes()}
     */
    @Override
    public CompletableFuture<Void> send(int peer, MessageKey key, ByteBuffer payload) {
        checkPeer(peer);
        Objects.requireNonNull(key, "key");
        if (peer != rank) {
            payloadBytesSent.addAndGet(payload.remaining());
        }
        if (payload.remaining() > cfg.maxPayloadBytes()) {
            throw new IllegalArgumentException("payload of " + payload.remaining() + " bytes exceeds the limit of "
                    + cfg.maxPayloadBytes() + " (maxFrameBytes " + cfg.maxFrameBytes() + ")");
        }
        CommException dead = mailboxes[peer].failure("send to");
        if (dead != null) return CompletableFuture.failedFuture(dead);
        if (peer == rank) { // loopback: a copy, since the caller may reuse its buffer once we return
            ByteBuf copy = ByteBufAllocator.DEFAULT.directBuffer(payload.remaining());
            copy.writeBytes(payload.duplicate());
            mailboxes[rank].deliver(key, copy);
            return CompletableFuture.completedFuture(null);
        }
        Channel ch = channels[peer];
        CompletableFuture<Void> done = new CompletableFuture<>();
        ch.writeAndFlush(Frames.data(ch.alloc(), key, payload)).addListener(f -> {
            if (f.isSuccess()) {
                done.complete(null);
            } else {
                CommException why = mailboxes[peer].failure("send to");
                // the peer first, as in the mailbox's failures: it is the rank the error is about
                done.completeExceptionally(why != null ? why
                        : new CommException("rank " + peer + ": send from rank " + rank + " failed", peer, f.cause()));
            }
        });
        return done;
    }

    /**
     * {@inheritDoc} The returned message holds Netty's buffer: close it promptly.
     *
     * @throws IllegalStateException if another thread already waits for the same key from the same peer
     */
    @Override
    public Message receive(int peer, MessageKey key, long deadlineNanos) {
        checkPeer(peer);
        return new NettyMessage(mailboxes[peer].receive(Objects.requireNonNull(key, "key"), deadlineNanos));
    }

    /** Payload bytes this rank has sent to other ranks (communication volume; self-sends excluded). */
    public long bytesSent() {
        return payloadBytesSent.get();
    }

    private final AtomicLong payloadBytesSent = new AtomicLong();

    @Override
    public boolean isAlive(int peer) {
        checkPeer(peer);
        return !mailboxes[peer].failed();
    }

    /**
     * Sends a goodbye to every peer, closes the connections and the listener, and stops the I/O threads.
     * Blocks for a moment: do not call it from a send future's callback (a Netty I/O thread).
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) return;
            closed = true;
            notifyAll();
        }
        // fail our own mailboxes first, so the channel closes below are not reported as peer failures
        for (Mailbox m : mailboxes) m.close("rank " + rank + " is closed");
        List<ChannelFuture> closing = new ArrayList<>();
        byte[] bye = codec.encode(new Goodbye("rank " + rank + " closed its transport"));
        for (Channel ch : snapshotChannels()) {
            ch.writeAndFlush(Frames.control(ch.alloc(), bye)).addListener(ChannelFutureListener.CLOSE);
            closing.add(ch.closeFuture());
        }
        if (server != null) closing.add(server.close());
        capRefusals.flush();
        for (ChannelFuture f : closing) {
            if (!f.awaitUninterruptibly(2, TimeUnit.SECONDS)) f.channel().close(); // a goodbye stuck behind a big write
        }
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
        recvPool.close(); // messages still held by their receivers free their blocks when released
    }

    // ---- called by PeerHandler (on event loops) ----

    TransportConfig config() {
        return cfg;
    }

    ControlCodec codec() {
        return codec;
    }

    /** Null if an incoming hello is acceptable, else the reason to refuse it. */
    String checkHello(Hello h) {
        if (h.version() != Handshake.VERSION) return "protocol version " + h.version() + ", expected " + Handshake.VERSION;
        if (!cfg.jobId().equals(h.jobId())) return "job id mismatch (peer sent '" + printable(h.jobId()) + "')";
        if (h.worldSize() != worldSize) return "world size mismatch (peer has " + h.worldSize() + ", this job " + worldSize + ")";
        if (h.toRank() != rank) return "hello addressed to rank " + h.toRank() + ", this is rank " + rank;
        if (h.fromRank() < 0 || h.fromRank() >= worldSize) return "rank " + h.fromRank() + " out of range [0, " + worldSize + ")";
        if (h.fromRank() >= rank) return "rank " + h.fromRank() + " may not dial rank " + rank + " (lower ranks dial higher ones)";
        if (h.nonce().length != Handshake.NONCE_BYTES) return "nonce of " + h.nonce().length + " bytes";
        return null;
    }

    /** Records an authenticated connection; false if the rank already has one or this rank is closed. */
    synchronized boolean register(int peer, Channel ch) {
        if (closed || channels[peer] != null) return false;
        channels[peer] = ch;
        connected++;
        if (expectedHosts[peer] != null) unauthenticated.arrived(expectedHosts[peer]); // its reserved slot is free again
        notifyAll();
        return true;
    }

    /** A rank we dialled refused us (or we refused it): start() fails at once, naming it. */
    synchronized void connectRefused(int peer, String reason) {
        lastError[peer] = reason;
        if (refusal == null && !closed) refusal = new CommException("rank " + rank + " cannot join job " + cfg.jobId() + ": " + reason, peer);
        notifyAll();
    }

    /** A connection we accepted from {@code from} authenticated or closed: it no longer counts against the caps. */
    void releaseUnauthenticated(InetAddress from) {
        unauthenticated.release(from);
    }

    /** Unauthenticated connections currently held (for tests). */
    int unauthenticatedConnections() {
        return unauthenticated.pending();
    }

    /**
     * The rank we dialled closed the connection before answering our hello, without a refusal: what a rank
     * over its connection cap does (or one that is just going down). Dials again until the connect deadline.
     */
    void redial(int peer, String reason) {
        synchronized (this) {
            lastError[peer] = reason;
            if (closed || channels[peer] != null || peers == null) return;
        }
        if (System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(RETRY_MS) >= dialDeadline) return; // start() times out naming it
        try {
            group.schedule(() -> dial(peers[peer], dialDeadline), RETRY_MS, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    /**
     * We refused a connection claiming to be {@code claimed}: not fatal (anyone can claim anything), but
     * if that rank never joins, start()'s timeout blames it and says why.
     */
    synchronized void refusedClaim(int claimed, String reason) {
        if (claimed >= 0 && claimed < worldSize && channels[claimed] == null) {
            lastError[claimed] = "refused a connection claiming to be rank " + claimed + ": " + reason;
        }
    }

    /** Marks {@code peer} gone; {@code announced}: it said goodbye, so this is news (DEBUG), not trouble (WARN). */
    void peerFailed(int peer, String reason, Throwable cause, boolean announced) {
        if (!mailboxes[peer].fail(reason, peer, cause) || closed) return;
        if (announced) log.debug("rank {}: {}", rank, reason); // an orderly goodbye (e.g. the job ended)
        else log.warn("rank {}: {}", rank, reason);
    }

    void deliver(int peer, MessageKey key, ByteBuf payload) {
        mailboxes[peer].deliver(key, payload);
    }

    int waitingReceives(int peer) {
        return mailboxes[peer].waitingCount();
    }

    int bufferedMessages(int peer) {
        return mailboxes[peer].bufferedCount();
    }

    /** Untrusted text made safe for logs and messages: printable ASCII only, bounded length. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 120));
        for (int i = 0; i < s.length() && i < 120; i++) {
            char c = s.charAt(i);
            b.append(c >= 0x20 && c < 0x7f ? c : '?');
        }
        return s.length() > 120 ? b.append("...").toString() : b.toString();
    }

    // ---- setup ----

    private void bind() {
        server = new ServerBootstrap().group(group).channel(io.serverChannel())
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        InetAddress from = ((InetSocketAddress) ch.remoteAddress()).getAddress();
                        String cap = unauthenticated.admit(from);
                        if (cap != null) { // no handler, no buffer, no timer: closed before anything is read
                            capRefusals.refused(from, cap);
                            ch.close();
                            return;
                        }
                        ch.pipeline().addLast(PeerHandler.accepting(NettyTransport.this, framing(ch), from));
                    }
                })
                .bind(cfg.host(), cfg.port()).syncUninterruptibly().channel();
        address = new PeerAddress(rank, cfg.host(), ((InetSocketAddress) server.localAddress()).getPort());
    }

    /** Reserves a slot over the unauthenticated-connection caps for each lower rank, at the host it published. */
    private void expectLowerRanks(List<PeerAddress> all) {
        for (int p = 0; p < rank; p++) {
            try {
                InetAddress host = InetAddress.getByName(all.get(p).host());
                synchronized (this) {
                    if (channels[p] != null) continue; // it was quicker than us
                    expectedHosts[p] = host;
                    unauthenticated.expect(host);
                }
            } catch (UnknownHostException e) {
                log.debug("rank {}: cannot resolve {} of rank {}: no reserved slot for it", rank, all.get(p).host(), p);
            }
        }
    }

    /** Puts a frame decoder first in the pipeline, and lets the channel read large frames straight into it. */
    private FrameDecoder framing(Channel ch) {
        FrameDecoder d = new FrameDecoder(cfg.handshakeMaxFrameBytes(), cfg.maxFrameBytes(), recvPool);
        ch.config().setRecvByteBufAllocator(new FrameReadAllocator(ch.config().getRecvByteBufAllocator(), d));
        ch.pipeline().addLast(d);
        return d;
    }

    /** Dials {@code to}, retrying refused connects (its listener may not be up yet) until the deadline. */
    private void dial(PeerAddress to, long deadline) {
        if (closed) return;
        long remainingMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        new Bootstrap().group(group).channel(io.channel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.max(1, Math.min(remainingMs, 10_000)))
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(PeerHandler.connecting(NettyTransport.this, framing(ch), to.rank()));
                    }
                })
                .connect(to.host(), to.port()).addListener((ChannelFuture f) -> {
                    if (f.isSuccess()) return;
                    synchronized (this) {
                        lastError[to.rank()] = "cannot connect to " + to.host() + ":" + to.port() + ": " + f.cause().getMessage();
                    }
                    if (System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(RETRY_MS) < deadline && !closed) {
                        group.schedule(() -> dial(to, deadline), RETRY_MS, TimeUnit.MILLISECONDS);
                    }
                });
    }

    private synchronized void awaitMesh(long deadline) {
        long left;
        while (connected < worldSize - 1 && refusal == null && !closed && (left = deadline - System.nanoTime()) > 0) {
            try {
                TimeUnit.NANOSECONDS.timedWait(this, left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CommException("rank " + rank + ": interrupted while connecting", -1, e);
            }
        }
        if (refusal != null) throw refusal;
        if (closed) throw new CommException("rank " + rank + " was closed while connecting", -1);
        if (connected == worldSize - 1) return;
        List<Integer> missing = new ArrayList<>();
        StringBuilder why = new StringBuilder();
        int blamed = -1; // the first missing rank we know something bad about, else the first missing one
        for (int p = 0; p < worldSize; p++) {
            if (p == rank || channels[p] != null) continue;
            missing.add(p);
            if (lastError[p] != null) {
                why.append("; rank ").append(p).append(": ").append(lastError[p]);
                if (blamed < 0) blamed = p;
            }
        }
        throw new CommTimeoutException("rank " + rank + " of job " + cfg.jobId() + ": ranks " + missing
                + " did not connect and authenticate within " + cfg.connectTimeout().toMillis() + " ms" + why,
                blamed >= 0 ? blamed : missing.get(0));
    }

    private synchronized List<Channel> snapshotChannels() {
        List<Channel> list = new ArrayList<>();
        for (Channel c : channels) if (c != null) list.add(c);
        return list;
    }

    private void checkPeer(int peer) {
        if (peer < 0 || peer >= worldSize) throw new IllegalArgumentException("peer " + peer + " out of range [0, " + worldSize + ")");
    }
}
