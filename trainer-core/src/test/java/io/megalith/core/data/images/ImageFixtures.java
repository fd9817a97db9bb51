package io.megalith.core.data.images;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;

/** Small image files written by tests: IDX bytes, PNG folders. */
public final class ImageFixtures {
    private ImageFixtures() {}

    /** A config of data.task images with these overrides. */
    public static MegalithConfig config(String... overrides) {
        List<String> all = new ArrayList<>(List.of("data.task=images", "run.dir=/tmp/unused-run"));
        all.addAll(Arrays.asList(overrides));
        return ConfigLoader.fromYaml("", all, "test");
    }

    /** Pixel j of image i of a test set: a pattern every image differs in. */
    public static int pixel(int i, int j) {
        return (i * 31 + j * 7 + (i * j) % 13) & 0xff;
    }

    /** An IDX images file of {@code count} rows x cols images (pixels by {@link #pixel}, offset by {@code from}). */
    public static void idxImages(Path file, int from, int count, int rows, int cols, boolean gzip) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(0x803);
        out.writeInt(count);
        out.writeInt(rows);
        out.writeInt(cols);
        for (int i = 0; i < count; i++) {
            for (int j = 0; j < rows * cols; j++) {
                out.writeByte(pixel(from + i, j));
            }
        }
        write(file, bytes.toByteArray(), gzip);
    }

    /** An IDX labels file: label of record i = (from + i) % classes. */
    public static void idxLabels(Path file, int from, int count, int classes, boolean gzip) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(0x801);
        out.writeInt(count);
        for (int i = 0; i < count; i++) {
            out.writeByte((from + i) % classes);
        }
        write(file, bytes.toByteArray(), gzip);
    }

    /** MNIST-style directory: train (records 0..train) and t10k (records 1000..) pairs. */
    public static Path idxDir(Path dir, int train, int test, boolean gzip) throws IOException {
        Files.createDirectories(dir);
        String gz = gzip ? ".gz" : "";
        idxImages(dir.resolve("train-images-idx3-ubyte" + gz), 0, train, 5, 4, gzip);
        idxLabels(dir.resolve("train-labels-idx1-ubyte" + gz), 0, train, 10, gzip);
        if (test > 0) {
            idxImages(dir.resolve("t10k-images-idx3-ubyte" + gz), 1000, test, 5, 4, gzip);
            idxLabels(dir.resolve("t10k-labels-idx1-ubyte" + gz), 1000, test, 10, gzip);
        }
        return dir;
    }

    /** A w x h PNG, gray or RGB, with pixels by {@link #pixel} of {@code seed} (RGB: channel c of seed + c). */
    public static void png(Path file, int seed, int w, int h, boolean rgb) throws IOException {
        Files.createDirectories(file.getParent());
        BufferedImage img = new BufferedImage(w, h, rgb ? BufferedImage.TYPE_INT_RGB : BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int j = y * w + x;
                if (rgb) {
                    img.setRGB(x, y, pixel(seed, j) << 16 | pixel(seed + 1, j) << 8 | pixel(seed + 2, j));
                } else {
                    img.getRaster().setSample(x, y, 0, pixel(seed, j));
                }
            }
        }
        if (!ImageIO.write(img, "png", file.toFile())) {
            throw new IOException("no PNG writer");
        }
    }

    private static void write(Path file, byte[] bytes, boolean gzip) throws IOException {
        Files.createDirectories(file.getParent());
        try (OutputStream out = gzip ? new GZIPOutputStream(Files.newOutputStream(file)) : Files.newOutputStream(file)) {
            out.write(bytes);
        }
    }
}
