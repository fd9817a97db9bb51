package io.megalith.core.train;

import io.megalith.comm.Communicator;
import io.megalith.core.checkpoint.Safetensors;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensorparallel.TensorParallelState;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one-rank model's tensors from the pieces ranks hold: AdamW moments gathered from (or sliced into) tensor-parallel
 * slices, and every rank's tensors of a group (pipeline stages, expert-parallel ranks) on every rank of it.
 */
final class GroupGathers {
    private static final String M = "exp_avg.";
    private static final String V = "exp_avg_sq.";

    private GroupGathers() {}

    /** The full moments of {@code local} (this rank's slices of {@code params}'): a collective over {@code tp}. */
    static Map<String, HostTensor> gatherMoments(Map<String, HostTensor> local, List<Parameter> params,
            Communicator tp) {
        if (tp.size() == 1) {
            return local;
        }
        Map<String, HostTensor> m = new LinkedHashMap<>();
        Map<String, HostTensor> v = new LinkedHashMap<>();
        local.forEach((k, t) -> (k.startsWith(V) ? v : m).put(k, t));
        Map<String, HostTensor> out = new LinkedHashMap<>(TensorParallelState.gather(m, params, tp, M));
        out.putAll(TensorParallelState.gather(v, params, tp, V));
        return out;
    }

    /** This rank's slices of the full moments {@code full}. */
    static Map<String, HostTensor> sliceMoments(Map<String, HostTensor> full, List<Parameter> params, Communicator tp) {
        if (tp.size() == 1) {
            return full;
        }
        Map<String, HostTensor> local = new LinkedHashMap<>(TensorParallelState.slice(full, params, M));
        local.putAll(TensorParallelState.slice(full, params, V));
        return local;
    }

    /**
     * Every rank's tensors of {@code group}, on every rank of it (a collective): each serialises its map as
     * safetensors and sends it to all; the first occurrence of a name wins (the token embedding is the same on the
     * first and last pipeline stage).
     */
    static Map<String, HostTensor> acrossGroup(Map<String, HostTensor> mine, Communicator group) {
        if (group == null || group.size() == 1) {
            return mine;
        }
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            Safetensors.write(bytes, mine, Map.of());
            ByteBuffer encoded = ByteBuffer.wrap(bytes.toByteArray());
            ByteBuffer[] send = new ByteBuffer[group.size()];
            for (int r = 0; r < send.length; r++) {
                send[r] = encoded.duplicate();
            }
            Map<String, HostTensor> all = new LinkedHashMap<>();
            for (ByteBuffer b : group.allToAll(send)) {
                byte[] a = new byte[b.remaining()];
                b.duplicate().get(a);
                Safetensors.read(new ByteArrayInputStream(a)).tensors().forEach(all::putIfAbsent);
            }
            return all;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
