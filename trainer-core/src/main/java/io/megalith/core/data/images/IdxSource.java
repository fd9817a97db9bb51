package io.megalith.core.data.images;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.megalith.core.data.shards.ShardSetWriter;
import io.megalith.core.tensor.CounterRng;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * IDX files (MNIST's format): the training pair {@code train-images-idx3-ubyte[.gz]} +
 * {@code train-labels-idx1-ubyte[.gz]} and, as the held-out split, the {@code t10k-*} pair beside it; without
 * that pair, val_fraction of the training records are held out by a seeded hash of the record number.
 *
 * @param trainRecords, heldRecords record numbers of each split in the file they come from (held-out: the t10k file
 *     when there is one, else the training file)
 */
record IdxSource(List<FileInfo> files, String trainImages, int[] trainLabels, int[] trainRecords, String heldImages,
        int[] heldLabels, int[] heldRecords, int height, int width, List<String> classNames, double valFraction,
        long seed) implements ImageSource {

    /** Fashion-MNIST's labels, by label. */
    static final List<String> FASHION_MNIST = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
            "Shirt", "Sneaker", "Bag", "Ankle boot");
    /** SHA-256 of Fashion-MNIST's 60,000 training labels (the bytes after the header): the set under any name. */
    private static final String FASHION_MNIST_TRAIN_LABELS =
            "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7";

    private static final String SUFFIX_IMAGES = "-images-idx3-ubyte";
    private static final String SUFFIX_LABELS = "-labels-idx1-ubyte";

    static boolean hasIdx(FileSystem fs, Path dir) throws IOException {
        for (FileStatus st : fs.listStatus(dir)) {
            if (st.isFile() && st.getPath().getName().contains(SUFFIX_IMAGES)) {
                return true;
            }
        }
        return false;
    }

    static IdxSource resolve(String path, double valFraction, long seed, Configuration conf) throws IOException {
        Path p = new Path(path);
        FileSystem fs = p.getFileSystem(conf);
        Path dir;
        String prefix;
        if (fs.isFile(p)) { // the training images file named directly
            String name = p.getName();
            int at = name.indexOf(SUFFIX_IMAGES);
            if (at < 0) {
                throw new IOException("data.path: " + path + " is not an IDX images file (<prefix>" + SUFFIX_IMAGES
                        + "[.gz]); name it, or the directory holding it");
            }
            dir = p.getParent();
            prefix = name.substring(0, at);
        } else {
            dir = p;
            prefix = "train";
        }
        FileStatus trainImages = find(fs, dir, prefix + SUFFIX_IMAGES);
        FileStatus trainLabels = find(fs, dir, prefix + SUFFIX_LABELS);
        if (trainImages == null || trainLabels == null) {
            throw new IOException("data.path: " + path + ": no " + prefix + SUFFIX_IMAGES + "[.gz] and "
                    + prefix + SUFFIX_LABELS + "[.gz] in " + dir + " (data.format idx)");
        }
        String heldPrefix = "train".equals(prefix) ? "t10k" : prefix.replace("train", "t10k");
        FileStatus heldImages = heldPrefix.equals(prefix) ? null : find(fs, dir, heldPrefix + SUFFIX_IMAGES);
        FileStatus heldLabelsFile = heldPrefix.equals(prefix) ? null : find(fs, dir, heldPrefix + SUFFIX_LABELS);
        boolean heldFiles = heldImages != null && heldLabelsFile != null;

        String trainUri = trainImages.getPath().toString();
        IdxFiles.Header h = IdxFiles.imagesHeader(trainUri, conf);
        int[] labels = IdxFiles.labels(trainLabels.getPath().toString(), conf);
        if (labels.length != h.count()) {
            throw new IOException(trainUri + ": " + h.count() + " images but " + trainLabels.getPath() + " has "
                    + labels.length + " labels");
        }
        List<FileInfo> files = new ArrayList<>(List.of(FileInfo.of(trainImages), FileInfo.of(trainLabels)));
        int[] trainRecords;
        int[] heldRecords;
        int[] heldLabels;
        String heldUri;
        if (heldFiles) {
            heldUri = heldImages.getPath().toString();
            IdxFiles.Header hh = IdxFiles.imagesHeader(heldUri, conf);
            if (hh.rows() != h.rows() || hh.cols() != h.cols()) {
                throw new IOException(heldUri + ": images of " + hh.rows() + "x" + hh.cols() + ", but the training "
                        + "images are " + h.rows() + "x" + h.cols());
            }
            heldLabels = IdxFiles.labels(heldLabelsFile.getPath().toString(), conf);
            trainRecords = range(h.count());
            heldRecords = range(hh.count());
            files.add(FileInfo.of(heldImages));
            files.add(FileInfo.of(heldLabelsFile));
        } else { // hold out records by a seeded hash of their number
            heldUri = trainUri;
            heldLabels = labels;
            long key = CounterRng.key(seed, "data.images.held_out");
            List<Integer> train = new ArrayList<>();
            List<Integer> held = new ArrayList<>();
            for (int r = 0; r < h.count(); r++) {
                (CounterRng.uniform(key, r) < valFraction ? held : train).add(r);
            }
            trainRecords = train.stream().mapToInt(Integer::intValue).toArray();
            heldRecords = held.stream().mapToInt(Integer::intValue).toArray();
        }
        int classes = Math.max(10, 1 + Math.max(Arrays.stream(labels).max().orElse(0),
                Arrays.stream(heldLabels).max().orElse(0)));
        boolean fashion = path.toLowerCase(Locale.ROOT).contains("fashion") || classes == 10
                && FASHION_MNIST_TRAIN_LABELS.equals(ShardSetWriter.sha256(bytes(labels)));
        return new IdxSource(List.copyOf(files), trainUri, labels, trainRecords, heldUri, heldLabels, heldRecords,
                h.rows(), h.cols(), fashion && classes == 10 ? FASHION_MNIST : ImageSource.numbered(classes),
                valFraction, seed);
    }

    @Override
    public int channels() {
        return 1;
    }

    @Override
    public int size(boolean train) {
        return (train ? trainRecords : heldRecords).length;
    }

    @Override
    public ImageSet read(boolean train, int first, int count, Configuration conf) throws IOException {
        int[] records = Arrays.copyOfRange(train ? trainRecords : heldRecords, first, first + count);
        return IdxFiles.read(train ? trainImages : heldImages, train ? trainLabels : heldLabels, records, conf);
    }

    @Override
    public ObjectNode describe() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("format", "idx");
        n.set("files", ImageSource.files(files));
        if (heldImages.equals(trainImages)) {
            n.put("held_out", "val_fraction of the training records by a seeded hash");
            n.put("val_fraction", valFraction);
            n.put("seed", seed);
        } else {
            n.put("held_out", "t10k files");
        }
        return n;
    }

    private static FileStatus find(FileSystem fs, Path dir, String name) throws IOException {
        for (String n : List.of(name + ".gz", name)) {
            Path f = new Path(dir, n);
            if (fs.isFile(f)) {
                return fs.getFileStatus(f);
            }
        }
        return null;
    }

    private static int[] range(int n) {
        int[] r = new int[n];
        Arrays.setAll(r, i -> i);
        return r;
    }

    private static byte[] bytes(int[] labels) {
        byte[] b = new byte[labels.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) labels[i];
        }
        return b;
    }
}
