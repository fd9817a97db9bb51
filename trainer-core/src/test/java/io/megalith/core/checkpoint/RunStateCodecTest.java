package io.megalith.core.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import com.esotericsoftware.kryo.kryo5.io.Output;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.GptConfig;
import org.junit.jupiter.api.Test;

/** The Kryo training state keeps the model's mixture-of-experts settings; format 1 (dense only) still reads. */
class RunStateCodecTest {
    @Test
    void theMoeSettingsSurviveTheRoundTrip() throws Exception {
        GptConfig moe = new GptConfig(65, 16, 4, 2, 16, 0.1, true, new MegalithConfig.Moe(2, 4, 2, 1.25, 0.01, 0.001));
        RunState s = new RunState(RunState.FORMAT_VERSION, 12, 7, 12, 12, moe, "char", "seed: 7\n");
        RunState back = RunStateCodec.decode(RunStateCodec.encode(s));
        assertThat(back.model()).isEqualTo(moe);
        assertThat(back.model().moe().experts()).isEqualTo(4);
        assertThat(back.step()).isEqualTo(12);
        assertThat(back.configYaml()).isEqualTo("seed: 7\n");
        GptConfig dense = new GptConfig(65, 16, 4, 2, 16, 0.1, true);
        assertThat(RunStateCodec.decode(RunStateCodec.encode(new RunState(RunState.FORMAT_VERSION, 1, 7, 1, 1, dense,
                "char", ""))).model()).isEqualTo(dense);
    }

    @Test
    void anotherFamilysStateHasNoGptConfigButItsFamilyAndShape() throws Exception {
        RunState s = new RunState(RunState.FORMAT_VERSION, 4, 7, 4, 4, null, "reverse", "seed: 7\n", "encoder_decoder",
                "Seq2SeqConfig[vocabSize=14]");
        RunState back = RunStateCodec.decode(RunStateCodec.encode(s));
        assertThat(back).isEqualTo(s);
        assertThat(back.model()).isNull();
        GptConfig dense = new GptConfig(65, 16, 4, 2, 16, 0.1, true);
        RunState gpt = RunStateCodec.decode(RunStateCodec.encode(new RunState(RunState.FORMAT_VERSION, 1, 7, 1, 1, dense,
                "char", "")));
        assertThat(gpt.family()).isEqualTo("gpt");
        assertThat(gpt.familyModel()).isNull();
    }

    @Test
    void aFormat1StateReadsAsADenseModel() throws Exception {
        byte[] bytes;
        try (Output out = new Output(256, -1)) { // the layout format 1 wrote
            out.writeInt(0x4d4c5354);
            out.writeVarInt(1, true);
            out.writeVarLong(5, true);
            out.writeLong(7);
            out.writeVarLong(5, true);
            out.writeVarLong(5, true);
            out.writeString("counter-based: (seed, purpose, coordinates)");
            out.writeVarInt(65, true);
            out.writeVarInt(16, true);
            out.writeVarInt(4, true);
            out.writeVarInt(2, true);
            out.writeVarInt(16, true);
            out.writeDouble(0.1);
            out.writeBoolean(true);
            out.writeString("char");
            out.writeString("seed: 7\n");
            bytes = out.toBytes();
        }
        RunState s = RunStateCodec.decode(bytes);
        assertThat(s.model()).isEqualTo(new GptConfig(65, 16, 4, 2, 16, 0.1, true));
        assertThat(s.model().moe().enabled()).isFalse();
        assertThat(s.step()).isEqualTo(5);
        assertThat(s.tokenizerKind()).isEqualTo("char");
    }
}
