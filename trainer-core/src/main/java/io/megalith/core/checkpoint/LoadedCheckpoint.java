package io.megalith.core.checkpoint;

import io.megalith.core.tensor.HostTensor;
import java.util.Map;

/**
 * A checkpoint read back and verified by {@link CheckpointStore}.
 *
 * @param step the training step it was saved at
 * @param tensorFiles each {@code <name>.safetensors} file, keyed by {@code name}, in manifest order
 * @param blobFiles each opaque file, keyed by its file name, in manifest order
 */
public record LoadedCheckpoint(
        long step, Map<String, Map<String, HostTensor>> tensorFiles, Map<String, byte[]> blobFiles) {}
