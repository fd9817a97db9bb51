package io.megalith.parallel.transport.netty;

import io.megalith.parallel.transport.MessageKey;
import io.megalith.parallel.transport.netty.Control.Challenge;
import io.megalith.parallel.transport.netty.Control.Hello;
import io.megalith.parallel.transport.netty.Control.Proof;
import io.netty.buffer.Unpooled;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;

/** A plain java.net.Socket speaking (or abusing) the wire protocol, to test what a rank accepts. */
final class RawPeer implements AutoCloseable {
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final ControlCodec codec = new ControlCodec();

    RawPeer(int port) {
        this(port, "127.0.0.1");
    }

    /** Connects from {@code localAddress} (any 127.x.y.z works on Linux loopback: distinct remote addresses for the rank). */
    RawPeer(int port, String localAddress) {
        try {
            socket = new Socket();
            socket.bind(new InetSocketAddress(localAddress, 0));
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            socket.setSoTimeout(5000);
            socket.setTcpNoDelay(true);
            in = new DataInputStream(socket.getInputStream());
            out = new DataOutputStream(socket.getOutputStream());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int localPort() {
        return socket.getLocalPort();
    }

    /** Writes raw bytes; false if the rank already closed the connection. */
    boolean write(byte[] bytes) {
        try {
            out.write(bytes);
            out.flush();
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    boolean writeInt(int v) {
        return write(new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v});
    }

    boolean frame(byte type, byte[] body) {
        byte[] f = new byte[5 + body.length];
        f[0] = (byte) ((body.length + 1) >>> 24);
        f[1] = (byte) ((body.length + 1) >>> 16);
        f[2] = (byte) ((body.length + 1) >>> 8);
        f[3] = (byte) (body.length + 1);
        f[4] = type;
        System.arraycopy(body, 0, f, 5, body.length);
        return write(f);
    }

    boolean control(Object message) {
        return frame(Frames.CONTROL, codec.encode(message));
    }

    boolean data(MessageKey key, byte[] payload) {
        byte[] body = new byte[Frames.DATA_HEADER_BYTES - 1 + payload.length];
        Unpooled.wrappedBuffer(body).writerIndex(0).writeInt(key.group()).writeLong(key.sequence()).writeInt(key.tag())
                .writeBytes(payload);
        return frame(Frames.DATA, body);
    }

    /** The next whole frame from the rank, length prefix included, exactly as it came over the wire. */
    byte[] readFrameBytes() {
        try {
            int len = in.readInt();
            byte[] f = new byte[4 + len];
            Unpooled.wrappedBuffer(f).writerIndex(0).writeInt(len);
            in.readFully(f, 4, len);
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The client side of the handshake, answering whatever challenge comes; the rank's two answers as raw frames. */
    byte[][] handshakeFrames(String jobId, byte[] secret, int worldSize, int from, int to) {
        byte[] nonce = Handshake.nonce();
        control(new Hello(Handshake.VERSION, jobId, worldSize, from, to, nonce));
        byte[] first = readFrameBytes();
        Object c = codec.decode(Unpooled.wrappedBuffer(first, 5, first.length - 5));
        if (!(c instanceof Challenge ch)) return new byte[][] {first};
        control(new Proof(Handshake.clientProof(secret, jobId, from, to, nonce, ch.nonce())));
        return new byte[][] {first, readFrameBytes()};
    }

    /** The next control message from the rank. */
    Object readControl() {
        try {
            int len = in.readInt();
            byte type = in.readByte();
            byte[] body = new byte[len - 1];
            in.readFully(body);
            if (type != Frames.CONTROL) throw new IllegalStateException("expected a control frame, got type " + type);
            return codec.decode(Unpooled.wrappedBuffer(body));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The client side of the handshake with {@code secret}; returns the rank's last answer (Accept or Reject). */
    Object handshake(String jobId, byte[] secret, int worldSize, int from, int to) {
        byte[] nonce = Handshake.nonce();
        control(new Hello(Handshake.VERSION, jobId, worldSize, from, to, nonce));
        Object c = readControl();
        if (!(c instanceof Challenge ch)) return c;
        control(new Proof(Handshake.clientProof(secret, jobId, from, to, nonce, ch.nonce())));
        return readControl();
    }

    /** Reads and discards until the rank closes the connection; ms it took, or -1 if still open after maxMs. */
    long millisUntilClosed(long maxMs) {
        long start = System.nanoTime();
        byte[] sink = new byte[8192];
        try {
            socket.setSoTimeout((int) maxMs);
            while (true) {
                if (in.read(sink) < 0) break;
                long left = maxMs - (System.nanoTime() - start) / 1_000_000;
                if (left <= 0) return -1;
                socket.setSoTimeout((int) left);
            }
        } catch (SocketTimeoutException e) {
            return -1;
        } catch (EOFException | SocketException e) {
            // reset by the rank: closed as well
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return (System.nanoTime() - start) / 1_000_000;
    }

    void shutdownOutput() {
        try {
            socket.shutdownOutput();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
