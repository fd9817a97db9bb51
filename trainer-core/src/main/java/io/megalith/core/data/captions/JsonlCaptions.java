package io.megalith.core.data.captions;

import io.megalith.core.data.captions.Composition.Relation;
import io.megalith.core.data.images.ChannelStats;
import io.megalith.core.data.images.ImageSet;
import io.megalith.core.tensor.CounterRng;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Captioned images from JSON Lines (data.format jsonl), read in process: data.path is a directory with
 * {@code train.jsonl} and {@code test.jsonl} (or {@code val.jsonl}; without either, val_fraction of the training
 * lines are held out by a seeded hash of their image path, so adding a line moves no other between the splits).
 * Image paths are relative to data.path; PNG/JPEG, grayscale or RGB (the first training image decides), one size
 * for all. Class names: {@code classes.txt} beside them (one per line, by label) when there is one, else the names
 * the compositions use, sorted. Pixels are normalised with the training split's per-channel mean and std.
 */
final class JsonlCaptions {
    static final String TRAIN = "train.jsonl";
    static final String CLASSES = "classes.txt";

    private JsonlCaptions() {}

    /** Whether {@code path} is a directory holding train.jsonl (data.format auto reads it as JSON Lines). */
    static boolean present(String path, Configuration conf) throws IOException {
        Path dir = new Path(path);
        FileSystem fs = dir.getFileSystem(conf);
        return fs.isDirectory(dir) && fs.isFile(new Path(dir, TRAIN));
    }

    static StoredCaptions read(String path, double valFraction, long seed, Configuration conf) throws IOException {
        if (path == null || path.isBlank()) {
            throw new IOException("data.path: not set; data.format jsonl reads a directory with " + TRAIN);
        }
        Path dir = new Path(path);
        FileSystem fs = dir.getFileSystem(conf);
        if (!fs.exists(dir)) {
            throw new IOException("data.path: " + path + " does not exist");
        }
        Path trainFile = new Path(dir, TRAIN);
        if (!fs.isDirectory(dir) || !fs.isFile(trainFile)) {
            throw new IOException("data.path: " + path + " has no " + TRAIN + " (data.format jsonl: a directory with "
                    + TRAIN + " and test.jsonl or val.jsonl, lines {\"image\": \"relative/path.png\", \"caption\": "
                    + "\"...\"})");
        }
        List<CaptionLine> train = CaptionLine.read(fs, trainFile);
        Path heldFile = fs.isFile(new Path(dir, "test.jsonl")) ? new Path(dir, "test.jsonl") : new Path(dir, "val.jsonl");
        List<CaptionLine> held;
        String split;
        if (fs.isFile(heldFile)) {
            held = CaptionLine.read(fs, heldFile);
            split = heldFile.getName();
        } else {
            List<CaptionLine> all = train;
            train = new ArrayList<>();
            held = new ArrayList<>();
            long key = CounterRng.key(seed, "data.captions.held_out");
            for (CaptionLine l : all) {
                (CounterRng.uniform(CounterRng.key(key, l.image()), 0) < valFraction ? held : train).add(l);
            }
            split = "val_fraction " + valFraction;
        }
        if (train.isEmpty()) {
            throw new IOException(trainFile + ": no training lines (each line {\"image\": \"relative/path.png\", "
                    + "\"caption\": \"...\"})");
        }
        List<String> names = classNames(fs, new Path(dir, CLASSES), train, held);
        Images images = new Images(fs, dir, train.get(0));
        StoredCaptions.Split trainSplit = images.split(train, names);
        StoredCaptions.Split heldSplit = images.split(held, names);
        ChannelStats stats = ChannelStats.of(trainSplit.canvases());
        return new StoredCaptions(trainSplit, heldSplit, names, stats.mean(), stats.std(), seed,
                path + " (jsonl, held out: " + split + ")");
    }

    private static List<String> classNames(FileSystem fs, Path file, List<CaptionLine> train, List<CaptionLine> held)
            throws IOException {
        if (fs.isFile(file)) {
            List<String> names = new ArrayList<>();
            try (BufferedReader in = new BufferedReader(new InputStreamReader(fs.open(file), StandardCharsets.UTF_8))) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    if (!line.isBlank()) {
                        names.add(line.strip());
                    }
                }
            }
            return names;
        }
        TreeSet<String> names = new TreeSet<>();
        for (List<CaptionLine> lines : List.of(train, held)) {
            for (CaptionLine l : lines) {
                if (l.hasComposition()) {
                    names.add(l.first());
                    if (l.second() != null) {
                        names.add(l.second());
                    }
                }
            }
        }
        return List.copyOf(names);
    }

    /** Decodes the images of lines into canvases of the first training image's shape. */
    private static final class Images {
        private final FileSystem fs;
        private final Path dir;
        private final String firstWhere;
        private final int channels;
        private final int height;
        private final int width;

        Images(FileSystem fs, Path dir, CaptionLine first) throws IOException {
            this.fs = fs;
            this.dir = dir;
            CaptionImages.Decoded d = decode(first);
            this.firstWhere = first.where();
            this.channels = d.channels();
            this.height = d.height();
            this.width = d.width();
        }

        private CaptionImages.Decoded decode(CaptionLine l) throws IOException {
            Path file = new Path(dir, l.image());
            if (!fs.isFile(file)) {
                throw new IOException(l.where() + ": image " + l.image() + " does not exist (" + file + "; image "
                        + "paths are relative to data.path)");
            }
            CaptionImages.Decoded d;
            try (InputStream in = fs.open(file)) {
                d = CaptionImages.decode(in);
            }
            if (d == null) {
                throw new IOException(l.where() + ": image " + l.image() + " is not a readable PNG or JPEG image");
            }
            return d;
        }

        StoredCaptions.Split split(List<CaptionLine> lines, List<String> names) throws IOException {
            int n = channels * height * width;
            byte[] pixels = new byte[Math.multiplyExact(lines.size(), n)];
            int[] labels = new int[lines.size()];
            List<String> captions = new ArrayList<>();
            List<Composition> compositions = new ArrayList<>();
            for (int i = 0; i < lines.size(); i++) {
                CaptionLine l = lines.get(i);
                CaptionImages.Decoded d = decode(l);
                if (d.height() != height || d.width() != width) {
                    throw new IOException(l.where() + ": image " + l.image() + " is " + d.width() + "x" + d.height()
                            + " pixels, but the first training image (" + firstWhere + ") is " + width + "x" + height
                            + "; every image of a set must have the same size (resize it)");
                }
                if (d.channels() != channels && channels == 1) {
                    throw new IOException(l.where() + ": image " + l.image() + " is colour in a grayscale set (the "
                            + "first training image, " + firstWhere + ", decides); convert it to grayscale");
                }
                for (int c = 0; c < channels; c++) { // a gray image in a colour set: repeated over R, G and B
                    int from = d.channels() == channels ? c : 0;
                    System.arraycopy(d.pixels(), from * height * width, pixels, i * n + c * height * width,
                            height * width);
                }
                Composition comp = composition(l, names);
                labels[i] = comp == null ? -1 : comp.first();
                captions.add(l.caption());
                compositions.add(comp);
            }
            return new StoredCaptions.Split(new ImageSet(pixels, labels, channels, height, width), captions,
                    compositions);
        }
    }

    private static Composition composition(CaptionLine l, List<String> names) throws IOException {
        if (!l.hasComposition()) {
            return null;
        }
        int first = label(l, l.first(), names);
        return l.relation() == Relation.SINGLE ? Composition.single(first)
                : new Composition(first, label(l, l.second(), names), l.relation());
    }

    private static int label(CaptionLine l, String name, List<String> names) throws IOException {
        int label = names.indexOf(name);
        if (label < 0) {
            throw new IOException(l.where() + ": class '" + name + "' is not in " + CLASSES + " (" + String.join(", ",
                    names) + ")");
        }
        return label;
    }
}
