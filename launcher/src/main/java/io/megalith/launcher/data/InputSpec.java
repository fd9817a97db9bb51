package io.megalith.launcher.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.shards.ShardSetWriter;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

/**
 * What a preparation reads and the settings that change its tokens: the input files in stream order (sorted by
 * path) with their sizes and modification times, the format, and the tokenizer settings. Its {@link #fingerprint}
 * decides whether a prepared data set can be reused.
 *
 * @param files qualified URIs, sorted: the token stream is the files' documents in this order
 * @param bpeSampleChars the bound on the text the BPE tokenizer is trained on (part of what the tokens depend on)
 */
record InputSpec(List<InputFile> files, String format, String textField, String tokenizer, int bpeVocabSize,
        double valFraction, long bpeSampleChars) {
    /** Bumped whenever the way input becomes tokens changes, so old prepared sets are not reused. */
    static final int PREPARATION_VERSION = 1;

    /** One input file as listed when the preparation started. */
    record InputFile(String path, long bytes, long modified) {}

    private static final Pattern HAS_SCHEME = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]+:.*");
    private static final Pattern GLOB = Pattern.compile(".*[*?\\[{].*");
    /** Compression suffixes Hadoop decompresses on the fly; the format is named by the suffix before them. */
    private static final Pattern COMPRESSED = Pattern.compile("\\.(gz|bz2|zst|deflate|lz4|snappy)$");

    /** Lists the files of {@code data.path} (a file, a directory, read recursively, or a glob). */
    static InputSpec resolve(MegalithConfig.Data d, Configuration conf, long bpeSampleChars) throws IOException {
        Path path = HAS_SCHEME.matcher(d.path()).matches() ? new Path(d.path())
                : new Path(Paths.get(d.path()).toAbsolutePath().toUri());
        FileSystem fs = path.getFileSystem(conf);
        List<InputFile> files = new ArrayList<>();
        if (GLOB.matcher(d.path()).matches()) {
            FileStatus[] matches = fs.globStatus(path, p -> !hidden(p.getName()));
            for (FileStatus st : matches == null ? new FileStatus[0] : matches) {
                if (st.isDirectory()) {
                    listDirectory(fs, st.getPath(), files);
                } else {
                    files.add(file(st));
                }
            }
        } else {
            FileStatus st;
            try {
                st = fs.getFileStatus(path);
            } catch (FileNotFoundException e) {
                throw new FileNotFoundException("data.path: no such file or directory: " + path);
            }
            if (st.isDirectory()) {
                listDirectory(fs, st.getPath(), files);
            } else {
                files.add(file(st));
            }
        }
        if (files.isEmpty()) {
            throw new FileNotFoundException("data.path: " + path + " holds no input files (names starting with '.' "
                    + "or '_' are skipped)");
        }
        files.sort(Comparator.comparing(InputFile::path));
        return new InputSpec(List.copyOf(files), format(d.format(), files), d.textField(), d.tokenizer(),
                d.bpeVocabSize(), d.valFraction(), bpeSampleChars);
    }

    boolean records() {
        return !"text".equals(format);
    }

    boolean bpe() {
        return "bpe".equals(tokenizer);
    }

    long totalBytes() {
        return files.stream().mapToLong(InputFile::bytes).sum();
    }

    /**
     * Everything the tokens depend on, as JSON (stored in {@code index.json} as {@code input}). The path as written
     * in the config is left out on purpose: a glob and a directory naming the same files prepare the same data.
     * So is {@code val_fraction} for the char tokenizer, whose tokens do not depend on it.
     */
    ObjectNode describe() {
        ObjectNode n = new ObjectMapper().createObjectNode();
        n.put("preparation_version", PREPARATION_VERSION);
        ArrayNode list = n.putArray("files");
        for (InputFile f : files) {
            list.addObject().put("path", f.path()).put("bytes", f.bytes())
                    .put("modified", Instant.ofEpochMilli(f.modified()).toString());
        }
        n.put("format", format);
        if (records()) {
            n.put("text_field", textField);
        }
        n.put("documents", Documents.describe(format, tokenizer));
        ObjectNode tok = n.putObject("tokenizer");
        tok.put("kind", tokenizer);
        if (bpe()) {
            tok.put("vocab_size", bpeVocabSize);
            tok.put("trained_on", "the first " + (1 - valFraction) + " of the characters");
            tok.put("sample_chars", bpeSampleChars);
        } else {
            tok.put("alphabet", "the distinct characters of the whole input, sorted");
        }
        return n;
    }

    /** SHA-256 (hex) of {@link #describe()}. */
    String fingerprint() {
        try {
            return ShardSetWriter.sha256(new ObjectMapper().writeValueAsBytes(describe()));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void listDirectory(FileSystem fs, Path dir, List<InputFile> out) throws IOException {
        RemoteIterator<LocatedFileStatus> it = fs.listFiles(dir, true);
        int rootDepth = dir.depth();
        while (it.hasNext()) {
            LocatedFileStatus st = it.next();
            // skip _SUCCESS, .crc files, and everything inside hidden directories below the root
            boolean skip = false;
            for (Path p = st.getPath(); p != null && p.depth() > rootDepth; p = p.getParent()) {
                skip |= hidden(p.getName());
            }
            if (!skip) {
                out.add(file(st));
            }
        }
    }

    private static boolean hidden(String name) {
        return name.startsWith(".") || name.startsWith("_");
    }

    private static InputFile file(FileStatus st) {
        return new InputFile(st.getPath().toString(), st.getLen(), st.getModificationTime());
    }

    /** The configured format, or the one the file names agree on. */
    private static String format(String configured, List<InputFile> files) {
        if (!"auto".equals(configured)) {
            return configured;
        }
        Map<String, String> byFormat = new TreeMap<>();
        for (InputFile f : files) {
            byFormat.putIfAbsent(byExtension(f.path()), f.path());
        }
        if (byFormat.size() > 1) {
            throw new IllegalArgumentException("data.path: files of several formats " + byFormat
                    + "; set data.format (text, jsonl or parquet) or narrow data.path");
        }
        return byFormat.keySet().iterator().next();
    }

    static String byExtension(String path) {
        String name = COMPRESSED.matcher(new Path(path).getName().toLowerCase(Locale.ROOT)).replaceFirst("");
        if (name.endsWith(".jsonl") || name.endsWith(".json") || name.endsWith(".ndjson")) {
            return "jsonl";
        }
        if (name.endsWith(".parquet")) {
            return "parquet";
        }
        return "text";
    }
}
