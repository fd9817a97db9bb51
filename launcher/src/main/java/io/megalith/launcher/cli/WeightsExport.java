package io.megalith.launcher.cli;

import io.megalith.core.checkpoint.CheckpointManifest;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.quantize.HalfFloats;
import io.megalith.core.quantize.Int8Weights;
import io.megalith.core.tensor.HostTensor;
import java.io.File;
import java.io.IOException;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * What {@code megalith ckpt export} and {@code megalith quantize} share: a checkpoint step's model weights, stored in
 * a dtype for inference, and where they are written (any Hadoop path).
 */
final class WeightsExport {
    private WeightsExport() {}

    /**
     * How the weights are stored. {@code exportName} is what {@code ckpt export --dtype} calls it and what a file's
     * megalith.dtype says; {@code quantizeName} the name {@code quantize --to} shows (both commands accept both).
     */
    enum Dtype {
        F32("f32", "fp32"), INT8("int8", "int8"), F16("f16", "fp16"), BF16("bf16", "bf16");

        final String exportName;
        final String quantizeName;

        Dtype(String exportName, String quantizeName) {
            this.exportName = exportName;
            this.quantizeName = quantizeName;
        }

        static Optional<Dtype> parse(String text) {
            return Arrays.stream(values()).filter(d -> d.exportName.equals(text) || d.quantizeName.equals(text))
                    .findFirst();
        }

        /** The fp32 {@code weights} as this dtype stores them. */
        Map<String, HostTensor> store(Map<String, HostTensor> weights) {
            return switch (this) {
                case F32 -> weights;
                case INT8 -> Int8Weights.quantize(weights); // matrices int8 + a fp32 scale per output channel
                case F16 -> HalfFloats.convert(weights, HostTensor.DType.F16);
                case BF16 -> HalfFloats.convert(weights, HostTensor.DType.BF16);
            };
        }

        /** The file's metadata; an f32 file keeps the exact bytes of earlier versions (PreviousCheckpointTest). */
        Map<String, String> metadata(long step) {
            return this == F32 ? Map.of("megalith.step", Long.toString(step))
                    : Map.of("megalith.step", Long.toString(step), "megalith.dtype", exportName);
        }
    }

    /** The one-rank model weights of step {@code s}, whatever layout saved them (pieces are assembled). */
    static Map<String, HostTensor> read(CheckpointStore store, long s, CheckpointManifest m) throws IOException {
        return m.sharded() ? store.assemble(s, m, n -> !n.startsWith("exp_avg"))
                : store.load(s).tensorFiles().get(ShardedCheckpointer.MODEL);
    }

    static long bytes(Map<String, HostTensor> weights) {
        return weights.values().stream().mapToLong(w -> w.data().remaining()).sum();
    }

    /** E.g. "int8: 1,234 bytes of weights, 0.262x the 4,711 of fp32". */
    static String sizeLine(String dtype, Map<String, HostTensor> stored, long fp32Bytes) {
        return String.format(Locale.ROOT, "%s: %,d bytes of weights, %.3fx the %,d of fp32", dtype, bytes(stored),
                (double) bytes(stored) / fp32Bytes, fp32Bytes);
    }

    /** {@code path} as a Hadoop path; one without a scheme is a local path, relative to the working directory. */
    static Path outputPath(String path) {
        Path p = new Path(path);
        return p.toUri().getScheme() == null ? new Path(new File(path).getAbsoluteFile().toURI()) : p;
    }

    /** The file system of {@code out}, writing no .crc sidecars: the output is for other tools. */
    static FileSystem outputFs(Path out) throws IOException {
        FileSystem fs = out.getFileSystem(new Configuration());
        return fs instanceof ChecksumFileSystem checksummed ? checksummed.getRawFileSystem() : fs;
    }
}
