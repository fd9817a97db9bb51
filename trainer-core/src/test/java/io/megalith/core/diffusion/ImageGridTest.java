package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PNGs written and read back with ImageIO hold the pixels: single images, grids, grey and RGB, both scales. */
class ImageGridTest {
    @TempDir
    Path dir;

    /** Bytes b as values in [-1, 1]: b / 127.5 - 1. */
    static float[] signed(int[] bytes) {
        float[] out = new float[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = (float) (bytes[i] / 127.5 - 1);
        }
        return out;
    }

    static int[] bytes(int n, int salt) {
        int[] b = new int[n];
        for (int i = 0; i < n; i++) {
            b[i] = (i * 37 + salt * 11) % 256;
        }
        return b;
    }

    @Test
    void greySinglesAndAGridReadBackAsTheirPixels() throws Exception {
        int n = 6;
        int h = 5;
        int w = 7;
        int[] b = bytes(n * h * w, 1);
        float[] px = signed(b);
        List<Path> files = ImageGrid.writeEach(dir.resolve("singles"), px, n, 1, h, w, ImageGrid.Scale.signed(1));
        assertThat(files).hasSize(n);
        for (int k = 0; k < n; k++) {
            BufferedImage img = ImageIO.read(files.get(k).toFile());
            assertThat(img.getWidth()).isEqualTo(w);
            assertThat(img.getHeight()).isEqualTo(h);
            Raster r = img.getRaster();
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    assertThat(r.getSample(x, y, 0)).isEqualTo(b[(k * h + y) * w + x]);
                }
            }
        }
        Path grid = dir.resolve("grid.png");
        ImageGrid.writeGrid(grid, px, 2, 3, 1, h, w, ImageGrid.Scale.signed(1)); // a row per class
        BufferedImage g = ImageIO.read(grid.toFile());
        int pad = ImageGrid.PAD;
        assertThat(g.getWidth()).isEqualTo(3 * w + 4 * pad);
        assertThat(g.getHeight()).isEqualTo(2 * h + 3 * pad);
        for (int row = 0; row < 2; row++) {
            for (int col = 0; col < 3; col++) {
                int k = row * 3 + col;
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        int gx = pad + col * (w + pad) + x;
                        int gy = pad + row * (h + pad) + y;
                        assertThat(g.getRaster().getSample(gx, gy, 0)).isEqualTo(b[(k * h + y) * w + x]);
                    }
                }
            }
        }
        assertThat(g.getRaster().getSample(0, 0, 0)).isZero();
    }

    @Test
    void rgbFromNormalisedPixelsReadsBack() throws Exception {
        int h = 4;
        int w = 3;
        double[] mean = {0.5, 0.25, 0.75};
        double[] std = {0.5, 0.2, 0.1};
        int[] b = bytes(3 * h * w, 2);
        float[] px = new float[b.length];
        for (int ch = 0; ch < 3; ch++) {
            for (int i = 0; i < h * w; i++) {
                int k = ch * h * w + i;
                px[k] = (float) ((b[k] / 255.0 - mean[ch]) / std[ch]); // as a normalised reader gives them
            }
        }
        Path f = dir.resolve("rgb.png");
        ImageGrid.write(ImageGrid.image(px, 0, 3, h, w, ImageGrid.Scale.normalised(mean, std)), f);
        BufferedImage img = ImageIO.read(f.toFile());
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                assertThat((rgb >> 16) & 255).isEqualTo(b[y * w + x]);
                assertThat((rgb >> 8) & 255).isEqualTo(b[h * w + y * w + x]);
                assertThat(rgb & 255).isEqualTo(b[2 * h * w + y * w + x]);
            }
        }
    }
}
