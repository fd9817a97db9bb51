package io.megalith.core.diffusion;

import java.awt.image.BufferedImage;
import java.awt.image.WritableRaster;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * Images [N, C, H, W] (C = 1: grey, C = 3: RGB) as PNG files: a grid (a row per class, {@code columns} images each,
 * {@code PAD} black pixels between cells) or one file per image. Pixels are mapped back to bytes by a
 * {@link Scale}: from [-1, 1], or from per-channel normalised values ((x/255 - mean) / std); rounded and clamped.
 */
public final class ImageGrid {
    public static final int PAD = 2;

    private ImageGrid() {}

    /** How model values become bytes. */
    public record Scale(double[] mean, double[] std) {
        /** Values in [-1, 1]: byte = (x + 1) / 2 * 255. */
        public static Scale signed(int channels) {
            double[] m = new double[channels];
            double[] s = new double[channels];
            Arrays.fill(m, 0.5);
            Arrays.fill(s, 0.5);
            return new Scale(m, s);
        }

        /** Per-channel normalised values: byte = (x std + mean) * 255. */
        public static Scale normalised(double[] mean, double[] std) {
            return new Scale(mean, std);
        }

        public int toByte(double x, int channel) {
            double v = (x * std[channel] + mean[channel]) * 255.0;
            return (int) Math.max(0, Math.min(255, Math.round(v)));
        }
    }

    /** Image {@code index} of {@code pixels} [N, C, H, W] as a grey or RGB image. */
    public static BufferedImage image(float[] pixels, int index, int c, int h, int w, Scale scale) {
        BufferedImage out = new BufferedImage(w, h, c == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
        paint(out, 0, 0, pixels, index, c, h, w, scale);
        return out;
    }

    /** {@code rows} x {@code columns} images (image r columns + k at row r, column k) in one picture. */
    public static BufferedImage grid(float[] pixels, int rows, int columns, int c, int h, int w, Scale scale) {
        int width = columns * w + (columns + 1) * PAD;
        int height = rows * h + (rows + 1) * PAD;
        BufferedImage out = new BufferedImage(width, height,
                c == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < columns; k++) {
                paint(out, PAD + k * (w + PAD), PAD + r * (h + PAD), pixels, r * columns + k, c, h, w, scale);
            }
        }
        return out;
    }

    private static void paint(BufferedImage out, int x0, int y0, float[] pixels, int index, int c, int h, int w,
            Scale scale) {
        if (c != 1 && c != 3) {
            throw new IllegalArgumentException("PNG output takes 1 or 3 channels, got " + c);
        }
        WritableRaster raster = out.getRaster();
        int base = index * c * h * w;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                if (c == 1) {
                    raster.setSample(x0 + x, y0 + y, 0, scale.toByte(pixels[base + y * w + x], 0));
                } else {
                    int rgb = 0;
                    for (int ch = 0; ch < 3; ch++) {
                        rgb = (rgb << 8) | scale.toByte(pixels[base + (ch * h + y) * w + x], ch);
                    }
                    out.setRGB(x0 + x, y0 + y, rgb);
                }
            }
        }
    }

    public static void write(BufferedImage image, Path file) {
        try {
            Path dir = file.toAbsolutePath().getParent();
            if (dir != null) {
                Files.createDirectories(dir);
            }
            if (!ImageIO.write(image, "png", file.toFile())) {
                throw new IOException("no PNG writer");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + file, e);
        }
    }

    /** The grid as a PNG file. */
    public static void writeGrid(Path file, float[] pixels, int rows, int columns, int c, int h, int w, Scale scale) {
        write(grid(pixels, rows, columns, c, h, w, scale), file);
    }

    /** Each of the {@code count} images as {@code dir/sample_00000.png}, ...; returns the files. */
    public static List<Path> writeEach(Path dir, float[] pixels, int count, int c, int h, int w, Scale scale) {
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Path f = dir.resolve(String.format("sample_%05d.png", i));
            write(image(pixels, i, c, h, w, scale), f);
            files.add(f);
        }
        return files;
    }
}
