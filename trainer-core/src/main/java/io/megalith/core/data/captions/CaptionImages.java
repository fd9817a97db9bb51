package io.megalith.core.data.captions;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import javax.imageio.ImageIO;

/**
 * PNG/JPEG files as unsigned bytes [channels, height, width], decoded as data.images' image folders are: a
 * grayscale image is one channel of raw samples (getRGB would map linear gray to sRGB and change the values), a
 * colour one three (RGB, alpha dropped). Writing is the exact inverse for 8-bit gray and RGB PNG.
 */
final class CaptionImages {
    private CaptionImages() {}

    /** A decoded image. */
    record Decoded(byte[] pixels, int channels, int height, int width) {}

    /** The image in {@code in}, or null when ImageIO cannot read it. */
    static Decoded decode(InputStream in) throws IOException {
        BufferedImage img = ImageIO.read(in);
        if (img == null) {
            return null;
        }
        int h = img.getHeight();
        int w = img.getWidth();
        Raster r = img.getRaster();
        if (img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY) {
            int bits = img.getColorModel().getComponentSize(0);
            byte[] px = new byte[h * w];
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int v = r.getSample(x, y, 0);
                    px[y * w + x] = (byte) (bits > 8 ? v >> (bits - 8) : bits < 8 ? v * 255 / ((1 << bits) - 1) : v);
                }
            }
            return new Decoded(px, 1, h, w);
        }
        byte[] px = new byte[3 * h * w];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                px[y * w + x] = (byte) (rgb >> 16);
                px[h * w + y * w + x] = (byte) (rgb >> 8);
                px[2 * h * w + y * w + x] = (byte) rgb;
            }
        }
        return new Decoded(px, 3, h, w);
    }

    /** Writes {@code pixels} [channels, height, width] (channels 1 or 3) as an 8-bit PNG. */
    static void writePng(byte[] pixels, int at, int channels, int height, int width, OutputStream out)
            throws IOException {
        int plane = height * width;
        BufferedImage img = new BufferedImage(width, height, channels == 1 ? BufferedImage.TYPE_BYTE_GRAY
                : BufferedImage.TYPE_INT_RGB);
        WritableRaster r = img.getRaster();
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int p = at + y * width + x;
                if (channels == 1) {
                    r.setSample(x, y, 0, pixels[p] & 0xff);
                } else {
                    img.setRGB(x, y, (pixels[p] & 0xff) << 16 | (pixels[p + plane] & 0xff) << 8
                            | (pixels[p + 2 * plane] & 0xff));
                }
            }
        }
        if (!ImageIO.write(img, "png", out)) {
            throw new IOException("no PNG writer in this JVM");
        }
    }
}
