"""A small training script with the mistakes torchlint exists to catch."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class Jittered(Dataset):
    """Adds fresh noise to every row it hands out: a data augmentation."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features = features
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.features[index]
        return row + 0.01 * torch.randn_like(row), self.labels[index]


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


def main() -> None:
    features = torch.randn(256, 20)
    labels = torch.randint(0, 3, (256,))
    loader = DataLoader(Jittered(features, labels), batch_size=32, shuffle=True)

    model = Classifier().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for inputs, targets in loader:
        inputs, targets = inputs.cuda(), targets.cuda()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()

    with torch.no_grad():
        predictions = model(features.to("cuda")).argmax(dim=1)
    print("accuracy", (predictions.cpu() == labels).float().mean().item())

    torch.save(model.state_dict(), "classifier.pt")
    model.load_state_dict(torch.load("classifier.pt"))


if __name__ == "__main__":
    main()
