package io.megalith.core.data.images;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * torchvision's ImageFolder: a directory with one sub-folder per class, classes sorted by name (label = position),
 * the PNG/JPEG files of each sorted by name. Decoding by javax.imageio; grayscale images give one channel, colour
 * ones three (RGB, alpha dropped).
 */
final class ImageFolder {
    static final Set<String> EXTENSIONS = Set.of("png", "jpg", "jpeg");

    private ImageFolder() {}

    /** A file of a class, as listed. */
    record Entry(String file, int label, long bytes, long modified) implements Serializable {}

    /** Sub-folder names of {@code dir}, sorted (hidden ones skipped). */
    static List<String> classes(String dir, Configuration conf) throws IOException {
        Path p = new Path(dir);
        FileSystem fs = p.getFileSystem(conf);
        List<String> names = new ArrayList<>();
        for (FileStatus st : fs.listStatus(p)) {
            String name = st.getPath().getName();
            if (st.isDirectory() && !name.startsWith(".") && !name.startsWith("_")) {
                names.add(name);
            }
        }
        names.sort(Comparator.naturalOrder());
        return names;
    }

    /** The images of {@code classes} under {@code dir}, class by class, by name within a class. */
    static List<Entry> list(String dir, List<String> classes, Configuration conf) throws IOException {
        Path root = new Path(dir);
        FileSystem fs = root.getFileSystem(conf);
        List<Entry> entries = new ArrayList<>();
        for (int label = 0; label < classes.size(); label++) {
            Path cls = new Path(root, classes.get(label));
            if (!fs.exists(cls)) {
                continue; // a held-out folder may lack a class
            }
            FileStatus[] files = fs.listStatus(cls);
            Arrays.sort(files, Comparator.comparing(st -> st.getPath().getName()));
            for (FileStatus st : files) {
                if (st.isFile() && EXTENSIONS.contains(extension(st.getPath().getName()))) {
                    entries.add(new Entry(st.getPath().toString(), label, st.getLen(), st.getModificationTime()));
                }
            }
        }
        return entries;
    }

    /** A decoded image: gray (one channel) or colour (three), unsigned bytes [channels, height, width]. */
    record Decoded(byte[] pixels, int channels, int height, int width) {}

    static Decoded decode(String file, Configuration conf) throws IOException {
        Path p = new Path(file);
        BufferedImage img;
        try (InputStream in = p.getFileSystem(conf).open(p)) {
            img = ImageIO.read(in);
        }
        if (img == null) {
            throw new IOException(file + ": not a readable PNG or JPEG image");
        }
        int h = img.getHeight();
        int w = img.getWidth();
        Raster r = img.getRaster();
        boolean gray = img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        if (gray) { // raw samples: getRGB would convert linear gray to sRGB and change the values
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

    /**
     * {@code d} as an image of {@code channels} (1 or 3) channels: a gray image in a colour set is repeated over R, G
     * and B; a colour image in a gray set is refused.
     */
    static byte[] as(String file, Decoded d, int channels, int height, int width) throws IOException {
        if (d.height() != height || d.width() != width) {
            throw new IOException(file + ": " + d.width() + "x" + d.height() + " pixels, but the other images are "
                    + width + "x" + height + " (every image of a set must have the same size; resize it)");
        }
        if (d.channels() == channels) {
            return d.pixels();
        }
        if (channels == 1) {
            throw new IOException(file + ": a colour image in a grayscale set (the first training image decides); "
                    + "convert it to grayscale, or make the first image colour");
        }
        byte[] px = new byte[3 * d.pixels().length];
        for (int c = 0; c < 3; c++) {
            System.arraycopy(d.pixels(), 0, px, c * d.pixels().length, d.pixels().length);
        }
        return px;
    }

    private static String extension(String name) {
        int dot = name.lastIndexOf('.');
        return dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
    }
}
