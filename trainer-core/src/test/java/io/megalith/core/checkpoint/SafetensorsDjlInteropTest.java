package io.megalith.core.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Cross-checks the format against an independent implementation: DJL's safetensors codec. */
class SafetensorsDjlInteropTest {
    @Test
    void djlReadsOursAndWeReadDjls() throws Exception {
        Torch.load(1);
        try (NDManager m = Torch.newManager()) {
            Map<String, HostTensor> tensors = new LinkedHashMap<>();
            tensors.put("w", HostTensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
            tensors.put("ids", HostTensor.ofLongs(new long[] {7, 8}, 2));
            // Ours -> DJL.
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Safetensors.write(out, tensors, Map.of("format", "pt"));
            NDList list = NDList.decode(m, out.toByteArray());
            assertThat(list.get("w").toFloatArray()).containsExactly(1, 2, 3, 4, 5, 6);
            assertThat(list.get("w").getShape()).isEqualTo(new Shape(2, 3));
            assertThat(list.get("ids").toLongArray()).containsExactly(7, 8);

            // DJL -> ours, including a 0-d tensor.
            NDArray a = m.create(new float[] {9, 8, 7}, new Shape(3));
            a.setName("a");
            NDArray s = m.create(5L);
            s.setName("s");
            byte[] djl = new NDList(a, s).encode(NDList.Encoding.SAFETENSORS);
            SafetensorsFile f = Safetensors.read(new ByteArrayInputStream(djl));
            assertThat(f.tensors().get("a").toFloats()).containsExactly(9, 8, 7);
            assertThat(f.tensors().get("s").toLongs()).containsExactly(5L);
        }
    }
}
