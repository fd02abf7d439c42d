"""The same script written the way torchlint suggests: portable, fast and correct."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from torchlint.runtime import best_device, evaluating, make_loader, seed_everything


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


def main() -> None:
    seed_everything(0)
    device = best_device()
    features = torch.randn(256, 20)
    labels = torch.randint(0, 3, (256,))
    loader = make_loader(TensorDataset(features, labels), batch_size=32, shuffle=True)

    model = Classifier().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()

    with evaluating(model):
        predictions = model(features.to(device)).argmax(dim=1)
    print("accuracy", (predictions.cpu() == labels).float().mean().item())

    torch.save(model.state_dict(), "classifier.pt")
    model.load_state_dict(torch.load("classifier.pt", weights_only=True))


if __name__ == "__main__":
    main()
