package io.megalith.core.checkpoint;

import java.io.FilterInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.zip.CRC32C;

/** Stream wrappers that compute CRC32C and count bytes on the fly, so no file is read twice. */
final class Crc32cStreams {
    private Crc32cStreams() {}

    static String hex(CRC32C crc) {
        return String.format("%08x", crc.getValue());
    }

    /** Checksums everything written through it; {@link #close()} does not close the target. */
    static final class Out extends FilterOutputStream {
        final CRC32C crc = new CRC32C();
        long count;

        Out(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            crc.update(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            // FilterOutputStream would otherwise write byte by byte.
            out.write(b, off, len);
            crc.update(b, off, len);
            count += len;
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }

    /** Checksums everything read through it. */
    static final class In extends FilterInputStream {
        final CRC32C crc = new CRC32C();
        long count;

        In(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                crc.update(b);
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                crc.update(b, off, n);
                count += n;
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            // Skipped bytes must still be checksummed.
            byte[] buf = new byte[(int) Math.min(8192, Math.max(n, 1))];
            long skipped = 0;
            while (skipped < n) {
                int r = read(buf, 0, (int) Math.min(buf.length, n - skipped));
                if (r < 0) {
                    break;
                }
                skipped += r;
            }
            return skipped;
        }

        @Override
        public boolean markSupported() {
            return false;
        }

        @Override
        public void reset() throws IOException {
            throw new IOException("mark/reset not supported: re-reading would corrupt the checksum");
        }

        /** Reads to the end so the checksum covers the whole file. */
        void drain() throws IOException {
            byte[] buf = new byte[1 << 16];
            while (read(buf, 0, buf.length) >= 0) {
                // only the checksum matters
            }
        }
    }
}
