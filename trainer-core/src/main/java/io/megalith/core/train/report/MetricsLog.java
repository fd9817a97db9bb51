package io.megalith.core.train.report;

import io.megalith.core.fs.RunDirFs;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The metrics of a training run as JSON Lines: one object per line in {@code <runDir>/metrics.jsonl}, on any
 * Hadoop file system (hdfs://..., file:///..., or a plain local path).
 *
 * <p>Each line is flushed (hflush) as soon as it is written, so a crash loses at most the line being written.
 * Numbers are JSON numbers; doubles are written in their shortest exact form, so they read back bit for bit.
 * NaN and ±Infinity, which JSON has no number for, are written as the strings "NaN", "Infinity" and "-Infinity"
 * and read back as doubles by {@link #read}.
 *
 * <p>Opening a log whose file already exists keeps its lines and appends; {@link #openForResume} also drops the
 * lines of steps that will be trained again. Reopening appends, so the file system must support append (HDFS and
 * the local FS do).
 */
public final class MetricsLog implements Closeable {
    public static final String FILE_NAME = "metrics.jsonl";

    private static final Logger LOG = LoggerFactory.getLogger(MetricsLog.class);
    // Long for every integer, so a step reads back as the same type whatever its size.
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.USE_LONG_FOR_INTS);
    private static final TypeReference<LinkedHashMap<String, Object>> RECORD = new TypeReference<>() {};

    private final FSDataOutputStream out;
    private boolean closed;

    /** Opens {@code <runDir>/metrics.jsonl} for appending, creating it (and runDir) if needed. */
    public MetricsLog(String runDir, Configuration conf) throws IOException {
        this(RunDirFs.of(runDir, conf), Long.MAX_VALUE);
    }

    /**
     * Opens the log of a run resumed at {@code resumeStep}: lines with {@code step >= resumeStep} are dropped,
     * because those steps are about to be trained (and logged) again; earlier lines and lines without a step are
     * kept. The file is rewritten atomically before appending, so a crash here leaves either the old or the new file.
     */
    public static MetricsLog openForResume(String runDir, Configuration conf, long resumeStep) throws IOException {
        return new MetricsLog(RunDirFs.of(runDir, conf), resumeStep);
    }

    private MetricsLog(RunDirFs run, long resumeStep) throws IOException {
        Path file = run.file(FILE_NAME);
        run.fs().mkdirs(run.dir());
        if (run.fs().exists(file)) {
            // Always rewritten, even when nothing is dropped: it also removes a line torn by a crash, which an
            // append would otherwise glue onto, and on HDFS it sidesteps the dead writer's lease on the old file.
            rewriteKeeping(run, file, resumeStep);
            out = run.fs().append(file);
        } else {
            out = run.fs().create(file, false);
        }
    }

    /**
     * Appends {@code record} as one line, keys in the map's iteration order (use a LinkedHashMap), and flushes it
     * to the file system before returning.
     */
    public synchronized void write(Map<String, Object> record) throws IOException {
        if (closed) {
            throw new IllegalStateException("metrics log is closed");
        }
        // Serialized in full before anything is written, so a bad value cannot leave half a line behind.
        byte[] json = JSON.writeValueAsBytes(record);
        byte[] line = new byte[json.length + 1];
        System.arraycopy(json, 0, line, 0, json.length);
        line[json.length] = '\n';
        out.write(line);
        out.hflush();
    }

    @Override
    public synchronized void close() throws IOException {
        if (!closed) {
            closed = true;
            out.close();
        }
    }

    /**
     * Reads every record of {@code <runDir>/metrics.jsonl} in file order; an empty list if there is no file yet.
     * Integers read back as Long, other numbers as Double; "NaN", "Infinity" and "-Infinity" as Double.
     */
    public static List<Map<String, Object>> read(String runDir, Configuration conf) throws IOException {
        RunDirFs run = RunDirFs.of(runDir, conf);
        Path file = run.file(FILE_NAME);
        List<Map<String, Object>> records = new ArrayList<>();
        if (run.fs().exists(file)) {
            for (Line line : readLines(run, file)) {
                records.add(line.record());
            }
        }
        return records;
    }

    private record Line(String text, Map<String, Object> record) {}

    private static void rewriteKeeping(RunDirFs run, Path file, long resumeStep) throws IOException {
        StringBuilder kept = new StringBuilder();
        int dropped = 0;
        for (Line line : readLines(run, file)) {
            Object step = line.record().get("step");
            if (step instanceof Number n && n.longValue() >= resumeStep) {
                dropped++;
            } else {
                kept.append(line.text()).append('\n'); // the original text, so kept lines stay byte for byte
            }
        }
        Path tmp = run.file(FILE_NAME + ".tmp");
        try (FSDataOutputStream tmpOut = run.fs().create(tmp, true)) {
            tmpOut.write(kept.toString().getBytes(StandardCharsets.UTF_8));
        }
        run.replace(tmp, file);
        if (dropped > 0) {
            LOG.info("{}: dropped {} records with step >= {}", file, dropped, resumeStep);
        }
    }

    private static List<Line> readLines(RunDirFs run, Path file) throws IOException {
        String text;
        try (InputStream in = run.fs().open(file)) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        List<Line> lines = new ArrayList<>();
        String[] parts = text.split("\n", -1);
        for (int i = 0; i < parts.length; i++) {
            String part = parts[i];
            if (part.isBlank()) {
                continue;
            }
            try {
                lines.add(new Line(part, parse(part)));
            } catch (JsonProcessingException e) {
                // Only the last line, with no newline after it, can be torn by a crash; anything else is corruption.
                if (i != parts.length - 1) {
                    throw new IOException(file + ": line " + (i + 1) + " is not a JSON object", e);
                }
                LOG.warn("{}: ignoring a torn last line ({} chars)", file, part.length());
            }
        }
        return lines;
    }

    private static Map<String, Object> parse(String line) throws JsonProcessingException {
        Map<String, Object> record = JSON.readValue(line, RECORD);
        if (record == null) { // the line "null"
            throw JsonMappingException.from((JsonParser) null, "not a JSON object: " + line);
        }
        record.replaceAll((key, value) -> value instanceof String s ? nonFinite(s, value) : value);
        return record;
    }

    /** Undoes Jackson's quoting of the doubles JSON cannot represent as numbers. */
    private static Object nonFinite(String s, Object value) {
        return switch (s) {
            case "NaN" -> Double.NaN;
            case "Infinity" -> Double.POSITIVE_INFINITY;
            case "-Infinity" -> Double.NEGATIVE_INFINITY;
            default -> value;
        };
    }
}
