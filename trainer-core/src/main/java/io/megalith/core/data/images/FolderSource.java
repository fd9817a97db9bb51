package io.megalith.core.data.images;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.megalith.core.tensor.CounterRng;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * An image folder (see {@link ImageFolder}): with {@code train/} and {@code test/} (or {@code val/}) sub-folders
 * those are the splits (classes named by train/'s sub-folders); otherwise the folder's sub-folders (or those of a
 * lone {@code train/}) are the classes and val_fraction of the files are held out by a seeded hash of their path relative to the folder (so adding a file
 * moves no other file between the splits). The first training image decides the size and the channels (1 if it is
 * grayscale, else 3) every image must have.
 */
record FolderSource(String root, List<ImageFolder.Entry> train, List<ImageFolder.Entry> heldOut, int channels,
        int height, int width, List<String> classNames, String held, double valFraction, long seed)
        implements ImageSource {

    static FolderSource resolve(String path, double valFraction, long seed, Configuration conf) throws IOException {
        Path root = new Path(path);
        FileSystem fs = root.getFileSystem(conf);
        String rootUri = fs.getFileStatus(root).getPath().toString();
        Path trainDir = new Path(rootUri, "train");
        Path heldDir = fs.isDirectory(new Path(rootUri, "test")) ? new Path(rootUri, "test") : new Path(rootUri, "val");
        List<ImageFolder.Entry> train;
        List<ImageFolder.Entry> held;
        List<String> classes;
        String heldName;
        if (fs.isDirectory(trainDir) && fs.isDirectory(heldDir)) {
            classes = ImageFolder.classes(trainDir.toString(), conf);
            for (String c : ImageFolder.classes(heldDir.toString(), conf)) {
                if (!classes.contains(c)) {
                    throw new IOException("data.path: " + heldDir + "/" + c + " is a class that " + trainDir
                            + " does not have (held-out classes must be training classes)");
                }
            }
            train = ImageFolder.list(trainDir.toString(), classes, conf);
            held = ImageFolder.list(heldDir.toString(), classes, conf);
            heldName = heldDir.getName();
        } else { // the classes are root's sub-folders, or train/'s when there is no held-out folder beside it
            String classRoot = fs.isDirectory(trainDir) ? trainDir.toString() : rootUri;
            classes = ImageFolder.classes(classRoot, conf);
            List<ImageFolder.Entry> all = ImageFolder.list(classRoot, classes, conf);
            long key = CounterRng.key(seed, "data.images.held_out");
            train = new ArrayList<>();
            held = new ArrayList<>();
            for (ImageFolder.Entry e : all) {
                String relative = e.file().substring(rootUri.length());
                (CounterRng.uniform(CounterRng.key(key, relative), 0) < valFraction ? held : train).add(e);
            }
            heldName = null;
        }
        if (classes.isEmpty()) {
            throw new IOException("data.path: " + path + " has no sub-folders: an image folder holds one sub-folder "
                    + "of PNG/JPEG files per class (data.format folder)");
        }
        if (train.isEmpty()) {
            throw new IOException("data.path: " + path + " holds no training images (.png, .jpg, .jpeg files in the "
                    + "class sub-folders)");
        }
        ImageFolder.Decoded first = ImageFolder.decode(train.get(0).file(), conf);
        return new FolderSource(rootUri, List.copyOf(train), List.copyOf(held), first.channels(), first.height(),
                first.width(), List.copyOf(classes), heldName, valFraction, seed);
    }

    @Override
    public int size(boolean train) {
        return (train ? this.train : heldOut).size();
    }

    @Override
    public ImageSet read(boolean train, int first, int count, Configuration conf) throws IOException {
        List<ImageFolder.Entry> entries = (train ? this.train : heldOut).subList(first, first + count);
        int n = channels * height * width;
        byte[] pixels = new byte[Math.multiplyExact(count, n)];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            ImageFolder.Entry e = entries.get(i);
            byte[] px = ImageFolder.as(e.file(), ImageFolder.decode(e.file(), conf), channels, height, width);
            System.arraycopy(px, 0, pixels, i * n, n);
            labels[i] = e.label();
        }
        return new ImageSet(pixels, labels, channels, height, width);
    }

    @Override
    public ObjectNode describe() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("format", "folder");
        n.put("root", root);
        var files = JsonNodeFactory.instance.arrayNode();
        for (List<ImageFolder.Entry> split : List.of(train, heldOut)) {
            for (ImageFolder.Entry e : split) {
                ObjectNode f = files.addObject();
                f.put("path", e.file().substring(root.length()));
                f.put("label", e.label());
                f.put("bytes", e.bytes());
                f.put("modified", e.modified());
            }
        }
        n.set("files", files);
        if (held == null) {
            n.put("held_out", "val_fraction of the files by a seeded hash of their path");
            n.put("val_fraction", valFraction);
            n.put("seed", seed);
        } else {
            n.put("held_out", held + "/");
        }
        return n;
    }
}
