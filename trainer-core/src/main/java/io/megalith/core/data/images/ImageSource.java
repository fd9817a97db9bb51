package io.megalith.core.data.images;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.shards.ShardSetWriter;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The images data.path names, resolved once (on the driver, or in process): the files, the class names, the image
 * shape and which images form the training and the held-out split, in a fixed order. Reading a piece of a split is
 * a pure function of this description, so Spark tasks (it is serializable) and the in-process reader produce the
 * same images in the same order.
 */
public sealed interface ImageSource extends Serializable permits IdxSource, FolderSource {
    int channels();

    int height();

    int width();

    List<String> classNames();

    /** Images in the training ({@code train}) or held-out split. */
    int size(boolean train);

    /** Images [first, first + count) of a split. */
    ImageSet read(boolean train, int first, int count, Configuration conf) throws IOException;

    /** What was read and how (files with sizes and modification times, split settings); hashed into the fingerprint. */
    ObjectNode describe();

    /** SHA-256 (hex) of {@link #describe()}: equal fingerprints mean a prepared data set can be reused. */
    default String fingerprint() {
        try {
            return ShardSetWriter.sha256(JsonMapper.builder().build().writeValueAsBytes(describe()));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A file as listed: its full URI, size and modification time. */
    record FileInfo(String path, long bytes, long modified) implements Serializable {
        static FileInfo of(FileStatus st) {
            return new FileInfo(st.getPath().toString(), st.getLen(), st.getModificationTime());
        }

        ObjectNode describe() {
            ObjectNode n = JsonNodeFactory.instance.objectNode();
            n.put("path", path);
            n.put("bytes", bytes);
            n.put("modified", modified);
            return n;
        }
    }

    /** Resolves data.path (data.format, and data.val_fraction with {@code seed} where no held-out files exist). */
    static ImageSource resolve(MegalithConfig.Data d, long seed, Configuration conf) throws IOException {
        if (d.path() == null || d.path().isBlank()) {
            throw new IOException("data.path: not set; data.task images reads IDX files or an image folder");
        }
        Path p = new Path(d.path());
        FileSystem fs = p.getFileSystem(conf);
        if (!fs.exists(p)) {
            throw new IOException("data.path: " + d.path() + " does not exist");
        }
        String format = d.format();
        if ("auto".equals(format)) {
            format = fs.isFile(p) || IdxSource.hasIdx(fs, p) ? "idx" : "folder";
        }
        return "idx".equals(format) ? IdxSource.resolve(d.path(), d.valFraction(), seed, conf)
                : FolderSource.resolve(d.path(), d.valFraction(), seed, conf);
    }

    /** Names "0", "1", ... for {@code classes} classes. */
    static List<String> numbered(int classes) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < classes; i++) {
            names.add(Integer.toString(i));
        }
        return names;
    }

    static ArrayNode files(List<FileInfo> files) {
        ArrayNode a = JsonNodeFactory.instance.arrayNode();
        files.forEach(f -> a.add(f.describe()));
        return a;
    }
}
