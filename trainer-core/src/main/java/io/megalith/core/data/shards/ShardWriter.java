package io.megalith.core.data.shards;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * Streams token ids into one shard file in the format's byte layout, counting them and computing the file's
 * CRC32C on the way, so nothing is read back. Does not close the stream.
 */
public final class ShardWriter {
    private final OutputStream out;
    private final TokenDtype dtype;
    private final int vocabSize;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private final CRC32C crc = new CRC32C();
    private long tokens;

    public ShardWriter(OutputStream out, TokenDtype dtype, int vocabSize) {
        if (TokenDtype.forVocab(vocabSize).bytes() > dtype.bytes()) {
            throw new IllegalArgumentException("vocabulary of " + vocabSize + " does not fit " + dtype.id());
        }
        this.out = out;
        this.dtype = dtype;
        this.vocabSize = vocabSize;
    }

    /**
     * Appends {@code ids}.
     *
     * @throws IllegalArgumentException if an id is outside [0, vocabSize): it would be stored silently wrapped
     */
    public void write(int[] ids) throws IOException {
        for (int id : ids) {
            if (id < 0 || id >= vocabSize) {
                throw new IllegalArgumentException("token id " + id + " outside [0, " + vocabSize + ")");
            }
            if (buf.remaining() < dtype.bytes()) {
                drain();
            }
            if (dtype == TokenDtype.UINT16) {
                buf.putChar((char) id);
            } else {
                buf.putInt(id);
            }
        }
        tokens += ids.length;
    }

    /** Writes out what is buffered; call before closing the stream. */
    public void flush() throws IOException {
        drain();
        out.flush();
    }

    public long tokens() {
        return tokens;
    }

    public long bytes() {
        return tokens * dtype.bytes();
    }

    /** CRC32C of everything written, as 8 lower-case hex digits; call after {@link #flush()}. */
    public String crc32c() {
        return String.format("%08x", crc.getValue());
    }

    private void drain() throws IOException {
        crc.update(buf.array(), 0, buf.position());
        out.write(buf.array(), 0, buf.position());
        buf.clear();
    }
}
