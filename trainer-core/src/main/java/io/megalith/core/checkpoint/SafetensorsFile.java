package io.megalith.core.checkpoint;

import io.megalith.core.tensor.HostTensor;
import java.util.Map;

/**
 * The content of one safetensors file as read by {@link Safetensors#read}.
 *
 * @param tensors tensors in the order of the JSON header (a {@link java.util.LinkedHashMap})
 * @param metadata the optional {@code __metadata__} string map, empty when the file has none
 */
public record SafetensorsFile(Map<String, HostTensor> tensors, Map<String, String> metadata) {}
