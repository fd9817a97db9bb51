package io.megalith.launcher.train;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.MegalithConfig;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

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
            exists("data.path", d.path(), hadoop, true, problems);
        }
        String initFrom = cfg.checkpoint().initFrom();
        if (initFrom != null && !initFrom.isBlank()) {
            exists("checkpoint.init_from", initFrom, hadoop, false, problems);
        }
        String tokenizer = cfg.checkpoint().initTokenizer();
        if (tokenizer != null && !tokenizer.isBlank()) {
            exists("checkpoint.init_tokenizer", tokenizer, hadoop, false, problems);
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(source, problems);
        }
    }

    /** A local path (relative to the working directory) or a Hadoop URI, as the data preparation reads it. */
    static Path resolve(String location) {
        return HAS_SCHEME.matcher(location).matches() ? new Path(location)
                : new Path(java.nio.file.Paths.get(location).toAbsolutePath().toUri());
    }

    private static void exists(String key, String location, Configuration hadoop, boolean data, List<String> problems)
            throws IOException {
        Path path = resolve(location);
        String where = HAS_SCHEME.matcher(location).matches() ? path.toString()
                : java.nio.file.Paths.get(location).toAbsolutePath() + (java.nio.file.Paths.get(location).isAbsolute()
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
        }
    }
}
