package io.megalith.core.data.images;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.GZIPInputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * The IDX format of MNIST and Fashion-MNIST, gzip'd or not (told by the gzip magic, not the name): big-endian
 * int32 magic (0x0803 images: count, rows, cols, then count x rows x cols bytes; 0x0801 labels: count, then count
 * bytes), on any Hadoop file system.
 */
final class IdxFiles {
    static final int IMAGES_MAGIC = 0x00000803;
    static final int LABELS_MAGIC = 0x00000801;

    private IdxFiles() {}

    /** An images file's header: {@code count} images of rows x cols. */
    record Header(int count, int rows, int cols) {}

    static Header imagesHeader(String file, Configuration conf) throws IOException {
        try (DataInputStream in = open(file, conf)) {
            return imagesHeader(file, in);
        }
    }

    /** All labels of a labels file. */
    static int[] labels(String file, Configuration conf) throws IOException {
        try (DataInputStream in = open(file, conf)) {
            int magic = in.readInt();
            if (magic != LABELS_MAGIC) {
                throw new IOException(file + ": not an IDX labels file (magic " + hex(magic) + ", expected "
                        + hex(LABELS_MAGIC) + ")");
            }
            int n = count(file, in.readInt());
            byte[] b = new byte[n];
            readFully(file, in, b);
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) {
                labels[i] = b[i] & 0xff;
            }
            return labels;
        }
    }

    /**
     * Images {@code records} (ascending record numbers) of an images file with their {@code labels} (all the
     * file's labels, by record number). Reads the file once, up to the last record asked for.
     */
    static ImageSet read(String file, int[] allLabels, int[] records, Configuration conf) throws IOException {
        try (DataInputStream in = open(file, conf)) {
            Header h = imagesHeader(file, in);
            if (h.count() != allLabels.length) {
                throw new IOException(file + ": " + h.count() + " images but its labels file has " + allLabels.length
                        + " labels");
            }
            int n = h.rows() * h.cols();
            byte[] pixels = new byte[Math.multiplyExact(records.length, n)];
            int[] labels = new int[records.length];
            long at = 0;
            for (int i = 0; i < records.length; i++) {
                int r = records[i];
                if (r < at || r >= h.count()) {
                    throw new IllegalArgumentException("record " + r + " out of order or outside [0, " + h.count() + ")");
                }
                in.skipNBytes((r - at) * n);
                readFully(file, in, pixels, i * n, n);
                labels[i] = allLabels[r];
                at = r + 1L;
            }
            return new ImageSet(pixels, labels, 1, h.rows(), h.cols());
        }
    }

    private static Header imagesHeader(String file, DataInputStream in) throws IOException {
        int magic = in.readInt();
        if (magic != IMAGES_MAGIC) {
            throw new IOException(file + ": not an IDX images file (magic " + hex(magic) + ", expected "
                    + hex(IMAGES_MAGIC) + ")");
        }
        int count = count(file, in.readInt());
        int rows = in.readInt();
        int cols = in.readInt();
        if (rows < 1 || cols < 1 || (long) rows * cols > 1 << 24) {
            throw new IOException(file + ": images of " + rows + "x" + cols);
        }
        return new Header(count, rows, cols);
    }

    private static DataInputStream open(String file, Configuration conf) throws IOException {
        Path p = new Path(file);
        InputStream raw = new BufferedInputStream(p.getFileSystem(conf).open(p), 1 << 16);
        raw.mark(2);
        boolean gzip = raw.read() == 0x1f && raw.read() == 0x8b;
        raw.reset();
        return new DataInputStream(gzip ? new BufferedInputStream(new GZIPInputStream(raw, 1 << 16), 1 << 16) : raw);
    }

    private static int count(String file, int n) throws IOException {
        if (n < 0) {
            throw new IOException(file + ": negative count " + n);
        }
        return n;
    }

    private static void readFully(String file, DataInputStream in, byte[] b) throws IOException {
        readFully(file, in, b, 0, b.length);
    }

    private static void readFully(String file, DataInputStream in, byte[] b, int off, int len) throws IOException {
        try {
            in.readFully(b, off, len);
        } catch (EOFException e) {
            throw new IOException(file + ": ends before the count in its header says (truncated?)", e);
        }
    }

    private static String hex(int v) {
        return String.format("0x%08x", v);
    }
}
