package io.megalith.core.checkpoint;

import io.megalith.core.checkpoint.CheckpointManifest.FileEntry;
import io.megalith.core.tensor.HostTensor;
import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;
import org.apache.hadoop.fs.ChecksumException;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Reads only some pieces of a safetensors shard file: its header, then each wanted piece's byte range by a
 * positional read, each verified against the piece's CRC32C in the manifest. A rank restoring a resharded
 * checkpoint thus reads (and holds) what it needs, not every file that holds any of it. Bytes outside the read
 * ranges are not verified: they are not used either.
 */
final class PieceReads {
    private PieceReads() {}

    /** CRC32C of a piece's bytes as the manifest records it. */
    static String crc32c(HostTensor data) {
        CRC32C crc = new CRC32C();
        crc.update(data.data().duplicate());
        return Crc32cStreams.hex(crc);
    }

    /**
     * The wanted pieces of {@code file}, by tensor name.
     *
     * @param wanted tensor name to its piece in this file; every piece must carry a CRC32C
     * @throws CorruptCheckpointException naming the file (and the tensor) when the file is missing, has the wrong
     *     size, an unreadable header, or a piece whose bytes do not match its CRC32C
     */
    static Map<String, HostTensor> read(FileSystem fs, Path file, FileEntry expected,
            Map<String, CheckpointManifest.Piece> wanted) throws IOException {
        FileStatus st;
        try {
            st = fs.getFileStatus(file);
        } catch (FileNotFoundException e) {
            throw new CorruptCheckpointException(file.toString(), "missing (listed in the manifest)");
        }
        long size = st.getLen();
        if (size != expected.size()) {
            throw new CorruptCheckpointException(file.toString(), "size " + size + " bytes, manifest says "
                    + expected.size());
        }
        Map<String, HostTensor> out = new LinkedHashMap<>();
        try (FSDataInputStream in = fs.open(file)) {
            Map<String, Safetensors.Located> index;
            try {
                byte[] prefix = new byte[8];
                in.readFully(0, prefix);
                byte[] header = new byte[(int) Safetensors.headerLength(prefix, size)];
                in.readFully(8, header);
                index = Safetensors.index(header, size);
            } catch (ChecksumException | EOFException e) {
                throw e;
            } catch (IOException e) {
                // a damaged header: parse errors are IOExceptions, but this one is corruption, not an outage
                throw new CorruptCheckpointException(file.toString(), "unreadable header: " + e.getMessage(), e);
            }
            for (Map.Entry<String, CheckpointManifest.Piece> w : wanted.entrySet()) {
                String name = w.getKey();
                Safetensors.Located at = index.get(name);
                if (at == null) {
                    throw new CorruptCheckpointException(file.toString(), "does not hold the piece of " + name
                            + " that the manifest lists");
                }
                byte[] bytes = new byte[Math.toIntExact(at.length())];
                in.readFully(at.offset(), bytes);
                CRC32C crc = new CRC32C();
                crc.update(bytes);
                String got = Crc32cStreams.hex(crc);
                if (!got.equals(w.getValue().crc32c())) {
                    throw new CorruptCheckpointException(file.toString(), "CRC32C mismatch in tensor " + name
                            + ": bytes have " + got + ", manifest says " + w.getValue().crc32c());
                }
                out.put(name, new HostTensor(at.dtype(), at.shape(), ByteBuffer.wrap(bytes)));
            }
        } catch (ChecksumException | EOFException e) {
            // the file system's own checks failed, or the file is shorter than its header says
            throw new CorruptCheckpointException(file.toString(), e.toString(), e);
        }
        return out;
    }
}
