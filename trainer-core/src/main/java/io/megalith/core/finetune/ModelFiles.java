package io.megalith.core.finetune;

import io.megalith.core.checkpoint.Safetensors;
import io.megalith.core.checkpoint.SafetensorsFile;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.tensor.HostTensor;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The files of the single-rank family pipelines: a model's state dict as one safetensors file (written to a
 * temporary name, then renamed), and LoRA adapters alone, with their rank, alpha and targets in the metadata
 * so that they can be merged into a base model later without the config.
 */
public final class ModelFiles {
    public static final String LORA_RANK = "lora.rank";
    public static final String LORA_ALPHA = "lora.alpha";
    public static final String LORA_TARGETS = "lora.targets";

    private ModelFiles() {}

    public static void save(Path file, Map<String, HostTensor> tensors, Map<String, String> metadata) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
            Safetensors.write(out, tensors, metadata);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    public static SafetensorsFile load(Path file) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 20)) {
            return Safetensors.read(in, Files.size(file));
        }
    }

    /**
     * Saves only the adapters of {@code state} (a model's full state dict), with the adapter config, plus the
     * tensors {@code alsoSave} names (those trained besides the adapters, e.g. a new task head: PEFT's
     * modules_to_save).
     */
    public static void saveAdapters(Path file, Map<String, HostTensor> state, LoraConfig lora,
            Predicate<String> alsoSave) throws IOException {
        Map<String, HostTensor> kept = new LinkedHashMap<>(Lora.adapterState(state));
        state.forEach((k, v) -> {
            if (alsoSave.test(k)) {
                kept.put(k, v);
            }
        });
        save(file, kept, adapterMetadata(lora));
    }

    /** The metadata that lets {@link #loadAdapters} rebuild the adapters' config without the run's. */
    public static Map<String, String> adapterMetadata(LoraConfig lora) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(LORA_RANK, Integer.toString(lora.rank()));
        meta.put(LORA_ALPHA, Double.toString(lora.alpha()));
        meta.put(LORA_TARGETS, String.join(",", lora.targets()));
        return meta;
    }

    /** Adapters saved by {@link #saveAdapters} and their config. */
    public record Adapters(LoraConfig config, Map<String, HostTensor> tensors) {}

    public static Adapters loadAdapters(Path file) throws IOException {
        SafetensorsFile f = load(file);
        Map<String, String> m = f.metadata();
        if (m == null || !m.containsKey(LORA_RANK)) {
            throw new IOException(file + " holds no LoRA adapters (no " + LORA_RANK + " metadata)");
        }
        LoraConfig cfg = new LoraConfig(Integer.parseInt(m.get(LORA_RANK)), Double.parseDouble(m.get(LORA_ALPHA)),
                List.copyOf(Arrays.asList(m.get(LORA_TARGETS).split(","))));
        return new Adapters(cfg, f.tensors());
    }

    /**
     * A base model's state dict with saved adapters folded into its weights (no adapter tensors left); other
     * tensors of the adapter file (a task head) are added or replace the base's.
     */
    public static Map<String, HostTensor> mergeAdapters(Map<String, HostTensor> base, Adapters adapters) {
        Map<String, HostTensor> all = new LinkedHashMap<>(base);
        all.putAll(adapters.tensors());
        return Lora.merged(all, adapters.config().scale());
    }
}
