package io.megalith.parallel.transport.netty;

import io.megalith.parallel.transport.netty.Control.Accept;
import io.megalith.parallel.transport.netty.Control.Challenge;
import io.megalith.parallel.transport.netty.Control.Goodbye;
import io.megalith.parallel.transport.netty.Control.Hello;
import io.megalith.parallel.transport.netty.Control.Proof;
import io.megalith.parallel.transport.netty.Control.Reject;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetAddress;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection: runs the handshake (see {@link Control}), then hands data frames to the transport's
 * mailbox. Until the handshake completes nothing reaches the mailbox; any protocol violation, bad
 * proof or timeout refuses the connection (WARN with the remote address and the reason) and closes it.
 *
 * <p>What the other side learns of a refusal is always the same {@link #REFUSAL} bytes, whatever went
 * wrong: an unauthenticated peer must not learn whether it guessed the job id, the world size or which
 * rank listens here. So an accepting rank answers every well-formed hello with a challenge, even a hello
 * it will refuse, and refuses only after the proof; the reason goes to the local log alone.
 * All methods run on the channel's event loop, so the state needs no locking.
 */
final class PeerHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(PeerHandler.class);
    /** The one reason either side ever sends in a {@link Reject}. */
    static final String REFUSAL = "connection refused";

    private enum State { AWAIT_HELLO, AWAIT_CHALLENGE, AWAIT_PROOF, AWAIT_ACCEPT, OPEN, CLOSED }

    private final NettyTransport transport;
    private final FrameDecoder decoder;
    private final boolean connecting;
    private int peer; // the rank we dialled, or the rank the hello claims; -1 until known
    private State state;
    private byte[] clientNonce;
    private byte[] serverNonce;
    private ScheduledFuture<?> handshakeTimer;
    private String goodbye;
    private String helloProblem; // why the hello is refused; told to the peer only after its proof, as "refused"
    private InetAddress unauthenticatedFrom; // while this accepted connection counts against the caps

    private PeerHandler(NettyTransport transport, FrameDecoder decoder, boolean connecting, int peer, InetAddress from) {
        this.transport = transport;
        this.decoder = decoder;
        this.connecting = connecting;
        this.peer = peer;
        this.unauthenticatedFrom = from;
        this.state = connecting ? State.AWAIT_CHALLENGE : State.AWAIT_HELLO;
    }

    static PeerHandler connecting(NettyTransport t, FrameDecoder d, int peer) {
        return new PeerHandler(t, d, true, peer, null);
    }

    /** {@code from} was admitted by the transport's {@link UnauthenticatedConnections}; released here. */
    static PeerHandler accepting(NettyTransport t, FrameDecoder d, InetAddress from) {
        return new PeerHandler(t, d, false, -1, from);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        TransportConfig cfg = transport.config();
        long timeoutMs = (connecting ? cfg.connectTimeout() : cfg.acceptedHandshakeTimeout()).toMillis();
        handshakeTimer = ctx.executor().schedule(
                () -> fail(ctx, "no complete handshake within " + timeoutMs + " ms", null), timeoutMs, TimeUnit.MILLISECONDS);
        if (connecting) {
            clientNonce = Handshake.nonce();
            TransportConfig c = transport.config();
            send(ctx, new Hello(Handshake.VERSION, c.jobId(), transport.worldSize(), transport.rank(), peer, clientNonce));
        }
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf frame = (ByteBuf) msg;
        if (state == State.CLOSED) {
            frame.release();
            return;
        }
        if (state == State.OPEN && frame.isReadable() && frame.getByte(frame.readerIndex()) == Frames.DATA) {
            onData(ctx, frame); // takes ownership
            return;
        }
        try {
            if (!frame.isReadable() || frame.readByte() != Frames.CONTROL) {
                fail(ctx, state == State.OPEN ? "unknown frame type" : "not a handshake frame", null);
                return;
            }
            if (frame.readableBytes() > transport.config().handshakeMaxFrameBytes()) {
                fail(ctx, "control message of " + frame.readableBytes() + " bytes is too long", null);
                return;
            }
            Object m;
            try {
                m = transport.codec().decode(frame);
            } catch (RuntimeException e) { // KryoException, or anything else a hostile payload provokes
                fail(ctx, "malformed " + (state == State.OPEN ? "control message" : "handshake") + ": "
                        + NettyTransport.printable(String.valueOf(e.getMessage())), null);
                return;
            }
            onControl(ctx, m);
        } finally {
            frame.release();
        }
    }

    private void onData(ChannelHandlerContext ctx, ByteBuf frame) {
        if (frame.readableBytes() < Frames.DATA_HEADER_BYTES) {
            frame.release();
            fail(ctx, "truncated data frame header", null);
            return;
        }
        frame.skipBytes(1);
        transport.deliver(peer, Frames.readKey(frame), frame);
    }

    private void onControl(ChannelHandlerContext ctx, Object m) {
        switch (state) {
            case AWAIT_HELLO -> {
                if (!(m instanceof Hello h)) {
                    fail(ctx, "expected hello, got " + m.getClass().getSimpleName(), null);
                    return;
                }
                // a bad hello is challenged like a good one (see the class comment) and refused after the proof
                helloProblem = transport.checkHello(h);
                peer = h.fromRank(); // used only once the proof matches and the hello was fine; else for the refusal note
                clientNonce = h.nonce();
                serverNonce = Handshake.nonce();
                state = State.AWAIT_PROOF;
                send(ctx, new Challenge(serverNonce));
            }
            case AWAIT_CHALLENGE -> {
                if (m instanceof Reject) {
                    fail(ctx, refusedBy(), null);
                } else if (!(m instanceof Challenge c) || c.nonce().length != Handshake.NONCE_BYTES) {
                    fail(ctx, "expected a challenge from rank " + peer, null);
                } else {
                    serverNonce = c.nonce();
                    state = State.AWAIT_ACCEPT;
                    send(ctx, new Proof(Handshake.clientProof(secret(), jobId(), transport.rank(), peer, clientNonce, serverNonce)));
                }
            }
            case AWAIT_PROOF -> {
                byte[] expected = Handshake.clientProof(secret(), jobId(), peer, transport.rank(), clientNonce, serverNonce);
                if (helloProblem != null) {
                    fail(ctx, helloProblem, null);
                } else if (!(m instanceof Proof p) || !Handshake.matches(expected, p.mac())) {
                    fail(ctx, "authentication failed: the proof of rank " + peer + " does not match (wrong secret?)", null);
                } else if (!transport.register(peer, ctx.channel())) {
                    fail(ctx, "rank " + peer + " is already connected (or this rank is closed)", null);
                } else {
                    // Accept goes out before anything the transport sends on this channel: we are on its event loop
                    send(ctx, new Accept(Handshake.serverProof(secret(), jobId(), peer, transport.rank(), clientNonce, serverNonce)));
                    open();
                }
            }
            case AWAIT_ACCEPT -> {
                byte[] expected = Handshake.serverProof(secret(), jobId(), transport.rank(), peer, clientNonce, serverNonce);
                if (m instanceof Reject) {
                    fail(ctx, refusedBy(), null);
                } else if (!(m instanceof Accept a) || !Handshake.matches(expected, a.mac())) {
                    fail(ctx, "authentication failed: the proof of rank " + peer + " does not match (wrong secret?)", null);
                } else if (!transport.register(peer, ctx.channel())) {
                    fail(ctx, "rank " + peer + " is already connected (or this rank is closed)", null);
                } else {
                    open();
                }
            }
            case OPEN -> {
                if (m instanceof Goodbye g) {
                    goodbye = NettyTransport.printable(g.reason());
                    ctx.close(); // channelInactive reports the peer as gone, with the reason
                } else {
                    fail(ctx, "unexpected " + m.getClass().getSimpleName() + " after the handshake", null);
                }
            }
            case CLOSED -> { }
        }
    }

    /** The dialler's side of a refusal: the rank does not say why (by design), its log does. */
    private String refusedBy() {
        return "rank " + peer + " refused the connection (its log says why; a different job id, secret or world size?)";
    }

    private void open() {
        state = State.OPEN;
        decoder.authenticated();
        handshakeTimer.cancel(false);
        releaseSlot();
    }

    private void releaseSlot() {
        if (unauthenticatedFrom != null) transport.releaseUnauthenticated(unauthenticatedFrom);
        unauthenticatedFrom = null;
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (handshakeTimer != null) handshakeTimer.cancel(false);
        releaseSlot();
        if (connecting && state == State.AWAIT_CHALLENGE) {
            // closed before any answer and without a refusal: the rank is over its connection cap (or going down)
            state = State.CLOSED;
            transport.redial(peer, "rank " + peer + " closed the connection before the handshake (over its connection cap?)");
        } else if (state == State.OPEN) {
            transport.peerFailed(peer, "rank " + peer + " disconnected" + (goodbye != null ? " (" + goodbye + ")" : ""), null,
                    goodbye != null);
        } else if (connecting && state != State.CLOSED) {
            transport.connectRefused(peer, "rank " + peer + " closed the connection during the handshake");
        } else if (state != State.CLOSED) { // a rank that gave up, or a port scanner: worth a note, not an alarm
            log.info("rank {}: connection from {} closed before authenticating", transport.rank(), ctx.channel().remoteAddress());
        }
        state = State.CLOSED;
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        String reason = cause instanceof TooLongFrameException || cause.getCause() instanceof TooLongFrameException
                ? "frame too long: " + cause.getMessage()
                : cause instanceof IOException ? "I/O error: " + cause.getMessage() : cause.toString();
        if (connecting && state == State.AWAIT_CHALLENGE && cause instanceof IOException) {
            ctx.close(); // reset before any answer: as a plain close (channelInactive), dial again
            return;
        }
        if (connecting && state != State.OPEN && state != State.CLOSED && cause instanceof IOException) {
            // the rank we dialled dropped the socket mid-handshake (a reset can overtake its Reject): name it
            reason = "rank " + peer + " closed the connection during the handshake (" + reason + ")";
        }
        fail(ctx, reason, cause);
    }

    /**
     * Ends the connection. Before authentication this is a refusal: logged with the remote address and the
     * reason, told to the other side as the generic {@link #REFUSAL} (it may be an honest rank with a wrong
     * setting: its own timeout and our log name the problem), and reported to start() if we dialled.
     * Afterwards the peer is failed.
     */
    private void fail(ChannelHandlerContext ctx, String reason, Throwable cause) {
        State was = state;
        if (was == State.CLOSED) return;
        state = State.CLOSED;
        if (handshakeTimer != null) handshakeTimer.cancel(false);
        if (was == State.OPEN) {
            String what = cause instanceof IOException ? " disconnected (" + reason + ")" : " failed: " + reason;
            transport.peerFailed(peer, "rank " + peer + what, cause, false);
            ctx.close();
            return;
        }
        log.warn("rank {}: refused connection {} {}: {}", transport.rank(), connecting ? "to" : "from",
                ctx.channel().remoteAddress(), reason);
        if (connecting) transport.connectRefused(peer, reason);
        else if (peer >= 0) transport.refusedClaim(peer, reason);
        if (ctx.channel().isActive()) {
            ctx.writeAndFlush(Frames.control(ctx.alloc(), transport.codec().encode(new Reject(REFUSAL))))
                    .addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.close();
        }
    }

    private void send(ChannelHandlerContext ctx, Object control) {
        ctx.writeAndFlush(Frames.control(ctx.alloc(), transport.codec().encode(control)))
                .addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
    }

    private byte[] secret() {
        return transport.config().secretBytes();
    }

    private String jobId() {
        return transport.config().jobId();
    }
}
