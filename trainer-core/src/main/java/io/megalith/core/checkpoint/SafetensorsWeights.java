package io.megalith.core.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.megalith.core.tensor.HostTensor;
import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Model weights as safetensors, the way Hugging Face stores them, on any Hadoop file system: one
 * {@code model.safetensors}, or shards {@code model-00001-of-00003.safetensors} with
 * {@code model.safetensors.index.json} ({@code "weight_map"}: tensor name to shard file). Names are
 * Megalith's parameter names ({@code wte.weight}, {@code blocks.0.attn.qkv.weight}, ...).
 */
public final class SafetensorsWeights {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    private static final JsonMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");

    private SafetensorsWeights() {}

    /**
     * Writes {@code weights} into {@code dir}: one file if they fit in {@code maxShardBytes} (or it is {@code <= 0}),
     * else shards of at most that size (a larger tensor gets a shard of its own) and the index.
     *
     * @return the files written, index last
     */
    public static List<Path> export(FileSystem fs, Path dir, Map<String, HostTensor> weights, long maxShardBytes,
            Map<String, String> metadata) throws IOException {
        fs.mkdirs(dir);
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        meta.putIfAbsent("format", "pt");
        long total = 0;
        for (HostTensor t : weights.values()) {
            total += t.data().remaining();
        }
        List<Path> out = new ArrayList<>();
        if (maxShardBytes <= 0 || total <= maxShardBytes) {
            Path p = new Path(dir, SINGLE);
            write(fs, p, weights, meta);
            out.add(p);
            return out;
        }
        List<Map<String, HostTensor>> shards = new ArrayList<>();
        Map<String, HostTensor> current = new LinkedHashMap<>();
        long size = 0;
        for (Map.Entry<String, HostTensor> e : weights.entrySet()) {
            long b = e.getValue().data().remaining();
            if (!current.isEmpty() && size + b > maxShardBytes) {
                shards.add(current);
                current = new LinkedHashMap<>();
                size = 0;
            }
            current.put(e.getKey(), e.getValue());
            size += b;
        }
        shards.add(current);
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode map = index.putObject("weight_map");
        for (int i = 0; i < shards.size(); i++) {
            String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            Path p = new Path(dir, name);
            write(fs, p, shards.get(i), meta);
            out.add(p);
            for (String t : shards.get(i).keySet()) {
                map.put(t, name);
            }
        }
        Path idx = new Path(dir, INDEX);
        try (OutputStream o = fs.create(idx, true)) {
            o.write(JSON.writeValueAsBytes(index));
        }
        out.add(idx);
        return out;
    }

    /** Writes {@code weights} as the one safetensors file {@code file} (its parent directory is created). */
    public static Path exportFile(FileSystem fs, Path file, Map<String, HostTensor> weights, Map<String, String> metadata)
            throws IOException {
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        meta.putIfAbsent("format", "pt");
        if (file.getParent() != null) {
            fs.mkdirs(file.getParent());
        }
        write(fs, file, weights, meta);
        return file;
    }

    private static void write(FileSystem fs, Path p, Map<String, HostTensor> tensors, Map<String, String> meta)
            throws IOException {
        try (OutputStream o = fs.create(p, true)) {
            Safetensors.write(o, tensors, meta);
        }
    }

    /**
     * Reads model weights from {@code location}: a {@code .safetensors} file, an index JSON, a directory holding
     * {@value #INDEX} or {@value #SINGLE}, a Megalith checkpoint directory ({@code .../checkpoints/step-N}: its
     * verified model tensors, whatever layout saved them) or a run directory (its latest complete checkpoint).
     */
    public static Map<String, HostTensor> read(String location, Configuration conf) throws IOException {
        Path path = new Path(location);
        if (path.toUri().getScheme() == null) {
            path = new Path(new File(location).getAbsoluteFile().toURI());
        }
        FileSystem fs = path.getFileSystem(conf);
        if (!fs.exists(path)) {
            throw new FileNotFoundException("no weights at " + path);
        }
        if (fs.getFileStatus(path).isDirectory()) {
            if (fs.exists(new Path(path, INDEX))) {
                return readIndex(fs, new Path(path, INDEX));
            }
            if (fs.exists(new Path(path, SINGLE))) {
                return readFile(fs, new Path(path, SINGLE));
            }
            Matcher m = STEP_DIR.matcher(path.getName());
            if (fs.exists(new Path(path, CheckpointManifest.FILE_NAME)) && m.matches()
                    && path.getParent() != null && path.getParent().getParent() != null) {
                CheckpointStore store = new CheckpointStore(path.getParent().getParent().toString(), conf, 0);
                return modelOf(store.load(Long.parseLong(m.group(1))));
            }
            if (fs.exists(new Path(path, "checkpoints"))) {
                CheckpointStore store = new CheckpointStore(path.toString(), conf, 0);
                return modelOf(store.loadLatest().orElseThrow(
                        () -> new FileNotFoundException("no complete checkpoint in " + location)));
            }
            throw new FileNotFoundException(path + " holds neither " + INDEX + ", " + SINGLE
                    + " nor a Megalith checkpoint");
        }
        return path.getName().endsWith(".json") ? readIndex(fs, path) : readFile(fs, path);
    }

    private static Map<String, HostTensor> modelOf(LoadedCheckpoint c) throws IOException {
        Map<String, HostTensor> model = c.tensorFiles().get("model");
        if (model == null) {
            throw new IOException("checkpoint of step " + c.step() + " holds no model tensors");
        }
        return model;
    }

    private static Map<String, HostTensor> readFile(FileSystem fs, Path p) throws IOException {
        long len = fs.getFileStatus(p).getLen();
        try (FSDataInputStream in = fs.open(p)) {
            return Safetensors.read(in, len).tensors();
        } catch (IOException e) {
            throw new IOException(p + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, HostTensor> readIndex(FileSystem fs, Path index) throws IOException {
        JsonNode root;
        try (FSDataInputStream in = fs.open(index)) {
            root = JSON.readTree(in.readNBytes(64 << 20));
        }
        JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new IOException(index + " has no \"weight_map\"");
        }
        Map<String, List<String>> byFile = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            String file = e.getValue().asText();
            if (file.contains("/") || file.startsWith(".")) {
                throw new IOException(index + ": invalid shard file name " + file);
            }
            byFile.computeIfAbsent(file, f -> new ArrayList<>()).add(e.getKey());
        }
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> e : byFile.entrySet()) {
            Map<String, HostTensor> shard = readFile(fs, new Path(index.getParent(), e.getKey()));
            for (String name : e.getValue()) {
                HostTensor t = shard.get(name);
                if (t == null) {
                    throw new IOException(index + " maps " + name + " to " + e.getKey() + ", which does not hold it");
                }
                out.put(name, t);
            }
        }
        return out;
    }
}
