"""hdrlab.nn blocks: activations, norms, ConvNormAct, upsampling + ICNR, parameter counts, UNet, ConvGRU, CIN."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hdrlab.errors import ChoiceError, DTypeError, RangeError, ShapeError
from hdrlab.nn import blocks
from hdrlab.nn.blocks import (
    ACTIVATIONS,
    NORMS,
    UPSAMPLE_MODES,
    ConvNormAct,
    ConvStack,
    DoubleConv,
    Upsample2x,
    activation,
    count_parameters,
    icnr_,
    norm2d,
)
from hdrlab.nn.norm import ConditionalInstanceNorm2d
from hdrlab.nn.recurrent import ConvGRUCell
from hdrlab.nn.unet import UNet


class TestActivation:
    def test_known_values(self):
        x = torch.tensor([-2.0, 0.0, 3.0])
        expected = {
            "relu": [0.0, 0.0, 3.0], "leaky_relu": [-0.4, 0.0, 3.0], "none": [-2.0, 0.0, 3.0],
            "sigmoid": torch.sigmoid(x).tolist(), "tanh": torch.tanh(x).tolist(),
            "swish": (x * torch.sigmoid(x)).tolist(), "silu": (x * torch.sigmoid(x)).tolist(),
            "mish": (x * torch.tanh(F.softplus(x))).tolist(), "elu": [torch.e**-2 - 1, 0.0, 3.0],
            "selu": [1.0507009873554805 * 1.6732632423543772 * (torch.e**-2 - 1), 0.0, 1.0507009873554805 * 3],
        }
        assert set(expected) == set(ACTIVATIONS)
        for name, values in expected.items():
            assert activation(name)(x).tolist() == pytest.approx(values, abs=1e-6), name

    def test_fresh_modules_and_kwargs(self):
        assert activation("relu") is not activation("relu")
        assert activation("leaky_relu", negative_slope=0.5)(torch.tensor([-2.0])).item() == -1.0

    @pytest.mark.parametrize("name", ["gelu", None, "ReLU"])
    def test_unknown(self, name):
        with pytest.raises(ChoiceError, match="mish"):
            activation(name)


class TestNorm:
    def test_kinds(self):
        assert isinstance(norm2d("batch", 8), nn.BatchNorm2d)
        instance = norm2d("instance", 8)
        assert isinstance(instance, nn.InstanceNorm2d) and instance.affine
        assert not norm2d("instance", 8, affine=False).affine
        assert isinstance(norm2d("none", 8), nn.Identity)
        assert set(NORMS) == {"batch", "instance", "group", "none"}

    @pytest.mark.parametrize(("channels", "groups"), [(64, 32), (48, 16), (3, 1), (8, 8)])
    def test_group_count(self, channels, groups):
        assert norm2d("group", channels).num_groups == groups

    def test_group_normalises_per_group(self):
        x = torch.randn(2, 4, 3, 3)
        y = norm2d("group", 4, num_groups=2)(x)
        assert torch.allclose(y, F.group_norm(x, 2), atol=1e-6)

    def test_errors(self):
        with pytest.raises(ChoiceError):
            norm2d("layer", 8)
        with pytest.raises(ShapeError, match="divisor"):
            norm2d("group", 6, num_groups=4)
        with pytest.raises(RangeError):
            norm2d("batch", 0)
        with pytest.raises(DTypeError):
            norm2d("batch", 2.0)


class TestConvNormAct:
    @pytest.mark.parametrize(("kernel", "stride", "dilation", "size", "out"),
                             [(3, 1, 1, 9, 9), (3, 2, 1, 9, 5), (5, 1, 2, 7, 7), (1, 1, 1, 4, 4), (7, 3, 1, 10, 4)])
    def test_same_padding_shapes(self, kernel, stride, dilation, size, out):
        block = ConvNormAct(3, 6, kernel, stride, dilation)
        assert block(torch.rand(2, 3, size, size)).shape == (2, 6, out, out)

    @pytest.mark.parametrize(("norm", "bias"), [("batch", False), ("instance", False), ("group", False), ("none", True)])
    def test_bias_only_without_affine_norm(self, norm, bias):
        block = ConvNormAct(3, 4, norm=norm)
        assert (block.conv.bias is not None) == bias
        assert count_parameters(block) == 3 * 4 * 9 + (4 if bias else 8)

    def test_computes_conv_then_norm_then_activation(self):
        block = ConvNormAct(2, 3, norm="instance", activation="tanh")
        x = torch.randn(1, 2, 5, 5)
        expected = torch.tanh(F.instance_norm(F.conv2d(x, block.conv.weight, padding=1), eps=1e-5))
        assert torch.allclose(block(x), expected, atol=1e-5)

    def test_padding_mode(self):
        block = ConvNormAct(1, 1, norm="none", activation="none", padding_mode="reflect")
        assert block(torch.rand(1, 1, 4, 4)).shape == (1, 1, 4, 4) and block.conv.padding_mode == "reflect"

    def test_errors(self):
        with pytest.raises(RangeError, match="odd"):
            ConvNormAct(3, 4, kernel_size=4)
        with pytest.raises(RangeError):
            ConvNormAct(3, 4, stride=0)
        with pytest.raises(DTypeError):
            ConvNormAct(3.0, 4)
        with pytest.raises(ChoiceError):
            ConvNormAct(3, 4, activation="gelu")


class TestStacks:
    def test_conv_stack_and_double_conv(self):
        stack = ConvStack(3, 8, num_convs=3, norm="none", activation="elu")
        assert len(stack) == 3 and stack[0].conv.in_channels == 3 and stack[2].conv.in_channels == 8
        assert isinstance(stack[1].act, nn.ELU)
        double = DoubleConv(3, 8)
        assert len(double) == 2 and double(torch.rand(2, 3, 6, 6)).shape == (2, 8, 6, 6)
        with pytest.raises(RangeError):
            ConvStack(3, 8, num_convs=0)


class TestUpsample:
    @pytest.mark.parametrize("mode", UPSAMPLE_MODES)
    def test_shapes(self, mode):
        assert Upsample2x(8, 4, mode)(torch.rand(2, 8, 5, 6)).shape == (2, 4, 10, 12)

    def test_modes(self):
        assert isinstance(Upsample2x(4, 2, "transposed").up, nn.ConvTranspose2d)
        assert isinstance(Upsample2x(4, 2, "resize_conv").up[0], nn.Upsample)
        assert isinstance(Upsample2x(4, 2, "pixel_shuffle").up[1], nn.PixelShuffle)

    def test_unknown_mode(self):
        with pytest.raises(ChoiceError, match="pixel_shuffle_icnr"):
            Upsample2x(4, 2, "bilinear")

    def test_icnr_output_is_nearest_upsampling_of_a_conv(self):
        torch.manual_seed(0)
        up = Upsample2x(5, 3, "pixel_shuffle_icnr")
        conv = up.up[0]
        x = torch.randn(2, 5, 4, 7)
        low_res = F.conv2d(x, conv.weight[::4], padding=1)  # one kernel per output channel, no bias
        assert torch.allclose(up(x), F.interpolate(low_res, scale_factor=2, mode="nearest"), atol=1e-6)

    def test_plain_pixel_shuffle_is_not_nearest(self):
        torch.manual_seed(0)
        up = Upsample2x(5, 3, "pixel_shuffle")
        y = up(torch.randn(1, 5, 4, 4))
        assert not torch.allclose(y[..., ::2, ::2], y[..., 1::2, 1::2], atol=1e-3)


class TestIcnr:
    @pytest.mark.parametrize("scale", [2, 3])
    def test_groups_identical(self, scale):
        weight = icnr_(torch.empty(2 * scale**2, 3, 3, 3), scale)
        groups = weight.view(2, scale**2, 3, 3, 3)
        assert torch.equal(groups, groups[:, :1].expand_as(groups))
        assert not torch.equal(groups[0, 0], groups[1, 0])

    def test_initializer_and_in_place(self):
        weight = torch.empty(8, 2, 1, 1)
        assert icnr_(weight, 2, nn.init.ones_) is weight and torch.equal(weight, torch.ones(8, 2, 1, 1))

    def test_property_for_scale_3(self):
        conv = nn.Conv2d(2, 3 * 9, 3, padding=1, bias=False)
        icnr_(conv.weight, 3)
        x = torch.randn(1, 2, 3, 4)
        expected = F.interpolate(F.conv2d(x, conv.weight[::9], padding=1), scale_factor=3, mode="nearest")
        assert torch.allclose(F.pixel_shuffle(conv(x), 3), expected, atol=1e-6)

    def test_bad_shape(self):
        with pytest.raises(ShapeError, match="PixelShuffle"):
            icnr_(torch.empty(6, 3, 3, 3), 2)
        with pytest.raises(ShapeError):
            icnr_(torch.empty(8, 3), 2)
        with pytest.raises(RangeError):
            icnr_(torch.empty(8, 3, 3, 3), 0)


class TestCountParameters:
    def test_known_module(self):
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(4, 2))  # 224 + 10
        assert count_parameters(model) == 234
        model[1].requires_grad_(False)
        assert count_parameters(model) == 224 and count_parameters(model, trainable_only=False) == 234

    def test_shared_counted_once(self):
        layer = nn.Linear(3, 3)
        assert count_parameters(nn.Sequential(layer, layer)) == 12


def _conv_cost(c_in, c_out, norm):
    """Parameters of a 3x3 ConvNormAct, written out: affine norms have 2 per channel and replace the conv bias."""
    return 9 * c_in * c_out + (c_out if norm == "none" else 2 * c_out)


def _expected_unet_parameters(in_channels, out_channels, widths, norm, upsample, convs):
    total = 0
    for i, width in enumerate(widths):
        total += _conv_cost(in_channels if i == 0 else widths[i - 1], width, norm)
        total += (convs - 1) * _conv_cost(width, width, norm)
    for i in range(len(widths) - 1):
        a, b = widths[i + 1], widths[i]
        total += {"transposed": 4 * a * b + b, "resize_conv": 9 * a * b + b}.get(upsample, 36 * a * b + 4 * b)
        total += _conv_cost(2 * b, b, norm) + (convs - 1) * _conv_cost(b, b, norm)
    return total + widths[0] * out_channels + out_channels


class TestUNet:
    @pytest.mark.parametrize("upsample", UPSAMPLE_MODES)
    @pytest.mark.parametrize("norm", sorted(NORMS))
    def test_every_upsampling_and_norm(self, upsample, norm):
        net = UNet(3, 2, levels=3, base_width=4, norm=norm, upsample=upsample)
        assert net(torch.rand(2, 3, 8, 12)).shape == (2, 2, 8, 12)
        assert count_parameters(net) == _expected_unet_parameters(3, 2, [4, 8, 16], norm, upsample, 2)

    @pytest.mark.parametrize(("head", "low", "high"), [("sigmoid", 0, 1), ("tanh", -1, 1), ("relu", 0, float("inf"))])
    def test_heads(self, head, low, high):
        y = UNet(levels=2, base_width=4, head=head)(torch.randn(2, 3, 8, 8)).detach()
        assert low <= float(y.min()) and float(y.max()) <= high
        assert isinstance(UNet(levels=2, base_width=4, head=head).head[1], type(activation(head)))

    def test_none_head_is_the_1x1_conv(self):
        net = UNet(levels=2, base_width=4, head="none")
        x = torch.randn(1, 3, 4, 4)
        features = net.decode(*net.encode(x))
        assert torch.equal(net(x), F.conv2d(features, net.head[0].weight, net.head[0].bias))

    def test_hand_counted_parameters(self):
        # enc (3->4: 112, 4->4: 148), (4->8: 296, 8->8: 584); up 8->4: 132; dec (8->4: 292, 4->4: 148); head 15
        assert count_parameters(UNet(levels=2, base_width=4, norm="none", head="none")) == 1727
        assert count_parameters(UNet(levels=2, base_width=4, norm="batch")) == 1759

    def test_widths_and_convs_per_level(self):
        net = UNet(1, 1, levels=3, widths=[3, 5, 7], convs_per_level=3, norm="none")
        assert net.widths == [3, 5, 7] and all(len(stack) == 3 for stack in [*net.encoder, *net.decoder])
        assert count_parameters(net) == _expected_unet_parameters(1, 1, [3, 5, 7], "none", "transposed", 3)
        assert UNet(levels=4, base_width=2).widths == [2, 4, 8, 16]

    def test_encode_decode(self):
        net = UNet(levels=3, base_width=4)
        bottleneck, skips = net.encode(torch.rand(2, 3, 16, 8))
        assert bottleneck.shape == (2, 16, 4, 2) and [s.shape for s in skips] == [(2, 4, 16, 8), (2, 8, 8, 4)]
        assert net.decode(bottleneck, skips).shape == (2, 4, 16, 8)
        with pytest.raises(ShapeError, match="2 skip"):
            net.decode(bottleneck, skips[:1])
        with pytest.raises(ShapeError, match="skip 0"):
            net.decode(bottleneck, [skips[0][..., :4], skips[1]])

    def test_divisibility(self):
        net = UNet(levels=4, base_width=2)
        assert net.multiple == 8
        with pytest.raises(ShapeError, match=r"multiples of 8.*Pad.*crop the input to 24x16 or 16x8"):
            net(torch.rand(1, 3, 20, 12))

    def test_single_level(self):
        net = UNet(levels=1, base_width=4)
        assert net.multiple == 1 and net(torch.rand(1, 3, 5, 7)).shape == (1, 3, 5, 7)

    def test_input_errors(self):
        net = UNet(levels=2, base_width=2)
        with pytest.raises(ShapeError, match=r"\(B, 3, H, W\)"):
            net(torch.rand(1, 4, 8, 8))
        with pytest.raises(ShapeError):
            net(torch.rand(3, 8, 8))
        with pytest.raises(DTypeError):
            net(torch.ones(1, 3, 8, 8, dtype=torch.uint8))

    def test_config_errors(self):
        with pytest.raises(ShapeError, match="3 widths"):
            UNet(levels=3, widths=[4, 8])
        with pytest.raises(ChoiceError):
            UNet(head="softmax")
        with pytest.raises(ChoiceError):
            UNet(upsample="bicubic")
        with pytest.raises(RangeError):
            UNet(levels=0)

    def test_trains(self):
        torch.manual_seed(0)
        net = UNet(levels=2, base_width=4, upsample="pixel_shuffle_icnr")
        x, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
        first = F.l1_loss(net(x), target)
        for _ in range(5):
            optimizer.zero_grad()
            F.l1_loss(net(x), target).backward()
            optimizer.step()
        assert F.l1_loss(net(x), target) < first


def _reference_gru(cell, x, h):
    """Ballas et al.'s equations with separate W (input) and U (state) convolutions cut from the cell's weights."""
    n_in, n_hid = cell.input_channels, cell.hidden_channels
    w_gates, b_gates = cell.gates.weight, cell.gates.bias
    w_cand, b_cand = cell.candidate.weight, cell.candidate.bias

    def conv(weight, bias, v):
        return F.conv2d(v, weight, bias, padding=weight.shape[-1] // 2)

    z = torch.sigmoid(conv(w_gates[:n_hid, :n_in], b_gates[:n_hid], x) + conv(w_gates[:n_hid, n_in:], None, h))
    r = torch.sigmoid(conv(w_gates[n_hid:, :n_in], b_gates[n_hid:], x) + conv(w_gates[n_hid:, n_in:], None, h))
    h_tilde = torch.tanh(conv(w_cand[:, :n_in], b_cand, x) + conv(w_cand[:, n_in:], None, r * h))
    return (1 - z) * h + z * h_tilde


class TestConvGRU:
    @pytest.mark.parametrize("kernel", [1, 3, 5])
    def test_matches_reference_equations(self, kernel):
        torch.manual_seed(0)
        cell = ConvGRUCell(3, 4, kernel)
        x, h = torch.randn(2, 3, 5, 6), torch.randn(2, 4, 5, 6)
        assert torch.allclose(cell(x, h), _reference_gru(cell, x, h), atol=1e-6)

    def test_none_state_is_zeros(self):
        cell = ConvGRUCell(2, 3)
        x = torch.randn(1, 2, 4, 4)
        assert torch.equal(cell(x), cell(x, torch.zeros(1, 3, 4, 4)))

    def test_state_carries_information(self):
        torch.manual_seed(0)
        cell = ConvGRUCell(2, 3)
        first_a, first_b = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
        same_second = torch.randn(1, 2, 4, 4)
        after_a = cell(same_second, cell(first_a))
        after_b = cell(same_second, cell(first_b))
        assert (after_a - after_b).abs().max() > 1e-3  # the first step is remembered

    def test_gradcheck(self):
        cell = ConvGRUCell(1, 2).double()
        x = torch.randn(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
        h = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(cell, (x, h))

    def test_errors(self):
        cell = ConvGRUCell(2, 3)
        with pytest.raises(ShapeError, match=r"\(1, 3, 4, 4\)"):
            cell(torch.rand(1, 2, 4, 4), torch.rand(1, 3, 4, 5))
        with pytest.raises(ShapeError):
            cell(torch.rand(1, 3, 4, 4))
        with pytest.raises(RangeError):
            ConvGRUCell(2, 3, kernel_size=2)


class TestConditionalInstanceNorm:
    def test_initial_is_plain_instance_norm(self):
        norm = ConditionalInstanceNorm2d(3, 4)
        assert torch.equal(norm.gamma, torch.ones(4, 3)) and torch.equal(norm.beta, torch.zeros(4, 3))
        x = torch.randn(2, 3, 5, 5) * 3 + 1
        y = norm(x, torch.tensor([0, 3]))
        assert torch.allclose(y.mean(dim=(2, 3)), torch.zeros(2, 3), atol=1e-5)
        assert torch.allclose(y.var(dim=(2, 3), unbiased=False), torch.ones(2, 3), atol=1e-3)

    def test_selects_gamma_and_beta_per_sample(self):
        torch.manual_seed(0)
        norm = ConditionalInstanceNorm2d(2, 3)
        with torch.no_grad():
            norm.gamma.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
            norm.beta.copy_(torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]))
        x = torch.randn(3, 2, 4, 4)
        condition = torch.tensor([2, 0, 2])
        mean = x.mean(dim=(2, 3), keepdim=True)
        normalized = (x - mean) / torch.sqrt(((x - mean) ** 2).mean(dim=(2, 3), keepdim=True) + 1e-5)
        gamma = torch.tensor([[5.0, 6.0], [1.0, 2.0], [5.0, 6.0]]).view(3, 2, 1, 1)
        beta = torch.tensor([[0.5, 0.6], [0.1, 0.2], [0.5, 0.6]]).view(3, 2, 1, 1)
        assert torch.allclose(norm(x, condition), gamma * normalized + beta, atol=1e-5)
        assert torch.allclose(norm(x, 1), norm(x, torch.tensor([1, 1, 1])))

    def test_gradients_reach_only_used_conditions(self):
        norm = ConditionalInstanceNorm2d(2, 3)
        norm(torch.randn(2, 2, 3, 3), torch.tensor([0, 2])).pow(2).sum().backward()
        assert norm.gamma.grad[1].abs().sum() == 0 and norm.gamma.grad[[0, 2]].abs().sum() > 0

    def test_errors(self):
        norm = ConditionalInstanceNorm2d(2, 3)
        x = torch.randn(2, 2, 3, 3)
        with pytest.raises(DTypeError, match="integer"):
            norm(x, torch.tensor([0.0, 1.0]))
        with pytest.raises(RangeError, match=r"\[0, 2\]"):
            norm(x, torch.tensor([0, 3]))
        with pytest.raises(RangeError):
            norm(x, torch.tensor([-1, 0]))
        with pytest.raises(ShapeError, match="one per sample"):
            norm(x, torch.tensor([0, 1, 2]))
        with pytest.raises(ShapeError, match="more than one pixel"):
            norm(torch.randn(2, 2, 1, 1), torch.tensor([0, 1]))
        with pytest.raises(ShapeError):
            norm(torch.randn(2, 3, 3, 3), torch.tensor([0, 1]))
        with pytest.raises(RangeError):
            ConditionalInstanceNorm2d(2, 3, eps=0.0)


def test_feature_map_check_names_the_layout():
    with pytest.raises(ShapeError, match=r"\(B, 5, H, W\)"):
        blocks.check_feature_map(torch.rand(5, 4, 4), 5)
