/**
 * Post-training weight quantization for inference (issue 19): {@link io.megalith.core.quantize.Int8Rows}, a weight
 * matrix as int8 with one fp32 scale per output channel (symmetric, per row); {@link io.megalith.core.quantize.Int8Kernel},
 * the matrix-vector product computed from the int8 weights with the Vector API (DJL exposes no int8 GEMM), so batch-1
 * decoding reads a quarter of the fp32 weight bytes; {@link io.megalith.core.quantize.Int8Weights}, a state dict as
 * I8 + {@code name_scale} safetensors; {@link io.megalith.core.quantize.HalfFloats}, F16/BF16 storage;
 * {@link io.megalith.core.quantize.GptDecoder}, a GPT's batch-1 KV-cache decoder in Java over int8 or fp32 rows.
 */
package io.megalith.core.quantize;
