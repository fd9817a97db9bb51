package io.megalith.launcher.train;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.MegalithConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

/**
 * Checks on the driver, before Spark or any rank starts, that the files a config names exist: a missing data file or
 * base would otherwise fail every rank of every attempt. Each problem names its YAML key and the path as resolved
 * (relative paths against the working directory), and is a {@link ConfigException} (exit 2, nothing written).
 */
public final class Preflight {
    private static final Pattern HAS_SCHEME = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]+:.*");
    private static final Pattern GLOB = Pattern.compile(".*[*?\\[{].*");

    private Preflight() {}

    public static void check(MegalithConfig cfg, String source, Configuration hadoop) throws IOException {
        List<String> problems = new ArrayList<>();
        MegalithConfig.Data d = cfg.data();
        boolean readsPath = !"addition".equals(d.task()) && !"reverse".equals(d.task());
        if (readsPath && d.path() != null && !d.path().isBlank()) {
            // images (and captioned images, whose JSON Lines point at images) are not text to sniff
            exists("data.path", d.path(), hadoop, !cfg.images() && !cfg.captions(), problems);
        }
        String initFrom = cfg.checkpoint().initFrom();
        if (initFrom != null && !initFrom.isBlank()) {
            exists("checkpoint.init_from", initFrom, hadoop, false, problems);
        }
        String tokenizer = cfg.checkpoint().initTokenizer();
        if (tokenizer != null && !tokenizer.isBlank()) {
            exists("checkpoint.init_tokenizer", tokenizer, hadoop, false, problems);
        }
        String textFrom = cfg.checkpoint().initTextFrom();
        if (!textFrom.isBlank()) {
            exists("checkpoint.init_text_from", textFrom, hadoop, false, problems);
        }
        if (cfg.distill().active()) {
            exists("distill.teacher", cfg.distill().teacher(), hadoop, false, problems);
            if (!cfg.distill().weights().isBlank()) {
                exists("distill.weights", cfg.distill().weights(), hadoop, false, problems);
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(source, problems);
        }
    }

    /** A local path (relative to the working directory) or a Hadoop URI, as the data preparation reads it. */
    public static Path resolve(String location) {
        return HAS_SCHEME.matcher(location).matches() ? new Path(location)
                : new Path(Paths.get(location).toAbsolutePath().toUri());
    }

    private static void exists(String key, String location, Configuration hadoop, boolean data, List<String> problems)
            throws IOException {
        Path path = resolve(location);
        String where = HAS_SCHEME.matcher(location).matches() ? path.toString()
                : Paths.get(location).toAbsolutePath() + (Paths.get(location).isAbsolute()
                        ? "" : " (relative paths are resolved against the working directory)");
        FileSystem fs = path.getFileSystem(hadoop);
        FileStatus[] found = GLOB.matcher(location).matches() ? fs.globStatus(path)
                : fs.exists(path) ? new FileStatus[] {fs.getFileStatus(path)} : null;
        if (found == null || found.length == 0) {
            problems.add(key + ": no such file or directory: " + where + "; fix the path (or --set " + key + "=...)");
            return;
        }
        if (data && found.length == 1 && found[0].isFile() && found[0].getLen() == 0) {
            problems.add(key + ": " + where + " is empty (0 bytes): there is nothing to train on; name a file with text");
            return;
        }
        if (data) {
            notText(fs, found, problems);
        }
    }

    private static final Pattern NOT_SNIFFED = Pattern.compile(".*\\.(parquet|gz|bz2|zst|deflate|lz4|snappy)$");
    private static final int SNIFF_BYTES = 64 << 10;
    private static final int SNIFF_FILES = 16;

    /**
     * The tokenizers read UTF-8 text (plain, TSV or JSON Lines): the head of each of the first input files must be
     * UTF-8 without NUL bytes. A binary file would otherwise become a vocabulary of thousands of replacement and
     * control characters, trained on without complaint.
     */
    private static void notText(FileSystem fs, FileStatus[] found, List<String> problems) throws IOException {
        List<FileStatus> files = new ArrayList<>();
        for (FileStatus st : found) {
            if (st.isDirectory()) {
                RemoteIterator<LocatedFileStatus> it = fs.listFiles(st.getPath(), true);
                while (it.hasNext() && files.size() < SNIFF_FILES) {
                    files.add(it.next());
                }
            } else if (files.size() < SNIFF_FILES) {
                files.add(st);
            }
        }
        for (FileStatus f : files) {
            String name = f.getPath().getName().toLowerCase(Locale.ROOT);
            if (NOT_SNIFFED.matcher(name).matches() || name.startsWith(".") || name.startsWith("_")) {
                continue;
            }
            byte[] head = new byte[(int) Math.min(f.getLen(), SNIFF_BYTES)];
            try (FSDataInputStream in = fs.open(f.getPath())) {
                in.readFully(0, head);
            }
            String why = textProblem(head, f.getLen() <= SNIFF_BYTES);
            if (why != null) {
                String shown = "file".equals(f.getPath().toUri().getScheme()) ? f.getPath().toUri().getPath()
                        : f.getPath().toString();
                problems.add("data.path: " + shown + " is not UTF-8 text (" + why + "); the char and bpe "
                        + "tokenizers read UTF-8 text: is it a binary file? Name a text, TSV or JSON Lines file");
                return;
            }
        }
    }

    /** Why {@code head} (the whole file when {@code complete}) is not UTF-8 text, or null. */
    static String textProblem(byte[] head, boolean complete) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(head);
        CoderResult r = decoder.decode(in, CharBuffer.allocate(head.length), complete);
        if (r.isError()) {
            return String.format("invalid byte 0x%02x at offset %d", head[in.position()] & 0xff, in.position());
        }
        for (int i = 0; i < head.length; i++) {
            if (head[i] == 0) {
                return "a NUL byte at offset " + i;
            }
        }
        return null;
    }
}
